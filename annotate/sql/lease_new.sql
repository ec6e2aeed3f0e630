-- comparison_next_for_annotator on PostgreSQL: pick an open comparison, take one of its slots,
-- lease it and return what the page shows, in one statement (one round trip).
--
-- The same semantics as the portable path (_pick_open): FOR UPDATE OF c SKIP LOCKED skips rows
-- another picker holds, and PostgreSQL re-checks the WHERE clause on a row that changed since the
-- statement's snapshot. It picks nothing while the annotator holds a live lease (the caller then
-- serves that one). submit_and_lease_next.sql picks the same way after a submit.
--
-- Parameters: project, k (its overlap target), user, now, expires (the lease's end), flipped.
WITH picked AS (
    SELECT c.id FROM annotate_comparison c
    WHERE c.project_id = %(project)s AND c.status = 'open' AND NOT c.is_gold AND c.slots_taken < %(k)s
      -- not already seen: the annotator never had a lease on it
      AND NOT EXISTS (
          SELECT 1 FROM annotate_assignment a WHERE a.comparison_id = c.id AND a.annotator_id = %(user)s
      )
      -- and holds no live lease in the project
      AND NOT EXISTS (
          SELECT 1 FROM annotate_assignment l
          WHERE l.annotator_id = %(user)s AND l.project_id = %(project)s AND l.status = 'live'
            AND l.expires_at > %(now)s
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
    SELECT %(project)s, bumped.id, %(user)s, %(flipped)s, 'live', '', %(now)s, %(expires)s FROM bumped
    RETURNING id, comparison_id, expires_at
)
-- The lease as assignment.lease_from_row reads it.
SELECT lease.id, bumped.id, bumped.prompt_id, p.content, bumped.response_a_id, ra.text,
       bumped.response_b_id, rb.text, lease.expires_at
FROM lease
JOIN bumped ON bumped.id = lease.comparison_id
JOIN annotate_prompt p ON p.id = bumped.prompt_id
JOIN annotate_response ra ON ra.id = bumped.response_a_id
JOIN annotate_response rb ON rb.id = bumped.response_b_id
