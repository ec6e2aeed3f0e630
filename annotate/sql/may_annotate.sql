-- The rule of access.can_annotate in SQL, for the project row "pr": the project is active and the
-- user is a member of it, or a superuser. Binds %(user)s and %(superuser)s (access.may_annotate_params).
-- One rule: access.py loads this file once and every statement that needs it says {may_annotate}.
pr.is_active AND (%(superuser)s OR EXISTS (
    SELECT 1 FROM annotate_membership m WHERE m.project_id = pr.id AND m.user_id = %(user)s
))
