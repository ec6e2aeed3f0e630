-- judgment_submit (lease_next false) and judgment_submit_and_lease_next on PostgreSQL: close the
-- lease, store the judgment, count the vote and, with lease_next, lease the annotator's next
-- comparison, in one statement: one round trip, no BEGIN/COMMIT.
--
-- Lock order as in the portable path: the assignment (closed), then the comparison (counted, then
-- the pick). Votes are counted with increments (votes_a = c.votes_a + 1), never by re-counting
-- judgments: when a concurrent submit has just updated the comparison, PostgreSQL re-evaluates the
-- UPDATE on the newest row version, so increments are never lost, whereas a count would run on
-- this statement's older snapshot. Winner and agreement follow from the new counters, as
-- judgments.vote_plurality computes them: one arm per Choice value.
--
-- Parameters: lease, user and superuser (access.may_annotate_params), project (the page's
-- project, or NULL for any), now, choice and choice_if_flipped (canonical, for either display),
-- strength ('' unless the choice is a or b), rationale, seconds, lease_next, roll (a uniform draw,
-- against the project's gold rate: gold turns take the general path) and flipped (the next lease's).
WITH closed AS (
    -- The caller's own live lease, in a project they may still annotate (access.lease_project).
    UPDATE annotate_assignment a SET status = 'submitted', closed_at = %(now)s
    FROM annotate_project pr
    WHERE a.id = %(lease)s AND a.annotator_id = %(user)s AND a.status = 'live' AND a.expires_at > %(now)s
      AND pr.id = a.project_id AND pr.id = COALESCE(%(project)s, pr.id)
      AND {may_annotate}
    RETURNING a.comparison_id, a.flipped, pr.id AS project_id, pr.overlap_target AS k,
              pr.lease_ttl_seconds AS ttl, pr.gold_rate
), judged AS (
    INSERT INTO annotate_judgment
        (comparison_id, annotator_id, assignment_id, choice, strength, rationale, seconds_spent,
         shown_flipped, is_imported, created_at)
    SELECT comparison_id, %(user)s, %(lease)s,
           CASE WHEN flipped THEN %(choice_if_flipped)s ELSE %(choice)s END,
           %(strength)s, %(rationale)s, %(seconds)s, flipped, false, %(now)s
    FROM closed
    -- is_<choice>: 1 for the vote's choice, 0 for the others
    RETURNING id, comparison_id, choice, strength, shown_flipped,
              (choice = 'a')::int AS is_a, (choice = 'b')::int AS is_b,
              (choice = 'tie')::int AS is_tie, (choice = 'both_bad')::int AS is_both_bad
), counted AS (
    UPDATE annotate_comparison c SET
        votes_a = c.votes_a + j.is_a,
        votes_b = c.votes_b + j.is_b,
        votes_tie = c.votes_tie + j.is_tie,
        votes_both_bad = c.votes_both_bad + j.is_both_bad,
        vote_count = c.vote_count + 1,
        -- the plurality of the new counters; no winner on a tie for first
        winner = CASE
            WHEN c.votes_a + j.is_a
                 > GREATEST(c.votes_b + j.is_b, c.votes_tie + j.is_tie, c.votes_both_bad + j.is_both_bad)
                THEN 'a'
            WHEN c.votes_b + j.is_b
                 > GREATEST(c.votes_a + j.is_a, c.votes_tie + j.is_tie, c.votes_both_bad + j.is_both_bad)
                THEN 'b'
            WHEN c.votes_tie + j.is_tie
                 > GREATEST(c.votes_a + j.is_a, c.votes_b + j.is_b, c.votes_both_bad + j.is_both_bad)
                THEN 'tie'
            WHEN c.votes_both_bad + j.is_both_bad
                 > GREATEST(c.votes_a + j.is_a, c.votes_b + j.is_b, c.votes_tie + j.is_tie)
                THEN 'both_bad'
            ELSE '' END,
        -- the top counter's share of the votes
        agreement = GREATEST(c.votes_a + j.is_a, c.votes_b + j.is_b, c.votes_tie + j.is_tie,
                             c.votes_both_bad + j.is_both_bad)::float8 / (c.vote_count + 1),
        status = CASE WHEN NOT c.is_gold AND c.vote_count + 1 >= (SELECT k FROM closed)
                      THEN 'complete' ELSE c.status END
    FROM judged j WHERE c.id = j.comparison_id
    RETURNING c.id
), picked AS (
    -- The pick of lease_new.sql, in the project of the lease just closed, only if the vote counted.
    SELECT c.id FROM annotate_comparison c
    WHERE c.project_id = (SELECT project_id FROM closed) AND c.status = 'open' AND NOT c.is_gold
      AND c.slots_taken < (SELECT k FROM closed)
      AND %(lease_next)s AND %(roll)s >= (SELECT gold_rate FROM closed) AND EXISTS (SELECT 1 FROM counted)
      -- not already seen
      AND NOT EXISTS (
          SELECT 1 FROM annotate_assignment a WHERE a.comparison_id = c.id AND a.annotator_id = %(user)s
      )
      -- no other live lease: this statement's snapshot still sees the one it closed as live
      AND NOT EXISTS (
          SELECT 1 FROM annotate_assignment l
          WHERE l.annotator_id = %(user)s AND l.project_id = (SELECT project_id FROM closed)
            AND l.status = 'live' AND l.expires_at > %(now)s AND l.id <> %(lease)s
      )
    ORDER BY c.priority DESC, c.slots_taken, c.id
    LIMIT 1
    FOR UPDATE OF c SKIP LOCKED
), bumped AS (
    UPDATE annotate_comparison c SET slots_taken = c.slots_taken + 1 FROM picked WHERE c.id = picked.id
    RETURNING c.id, c.prompt_id, c.response_a_id, c.response_b_id
), lease AS (
    INSERT INTO annotate_assignment
        (project_id, comparison_id, annotator_id, flipped, status, skip_reason, created_at, expires_at)
    SELECT (SELECT project_id FROM closed), bumped.id, %(user)s, %(flipped)s, 'live', '', %(now)s,
           %(now)s + make_interval(secs => (SELECT ttl FROM closed))
    FROM bumped
    RETURNING id, comparison_id, expires_at
)
-- The judgment as assignment._submitted_from_row reads it, the project's id and gold rate, then
-- the next lease (NULLs when none) as assignment.lease_from_row reads it.
SELECT j.id, j.comparison_id, j.choice, j.strength, j.shown_flipped, closed.project_id, closed.gold_rate,
       lease.id, bumped.id, bumped.prompt_id, p.content, bumped.response_a_id, ra.text,
       bumped.response_b_id, rb.text, lease.expires_at
FROM judged j
JOIN counted ON counted.id = j.comparison_id
CROSS JOIN closed
LEFT JOIN (
    lease
    JOIN bumped ON bumped.id = lease.comparison_id
    JOIN annotate_prompt p ON p.id = bumped.prompt_id
    JOIN annotate_response ra ON ra.id = bumped.response_a_id
    JOIN annotate_response rb ON rb.id = bumped.response_b_id
) ON true
