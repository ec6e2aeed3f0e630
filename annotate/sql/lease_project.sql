-- access.lease_project: the project of the user's own lease, if they may still annotate it.
-- It guards every skip and every refused submit. {project_columns} is every column of
-- annotate_project in the order of the model's fields (db.columns), as db.instance_from_row reads them.
SELECT {project_columns}
FROM annotate_project pr JOIN annotate_assignment a ON a.project_id = pr.id
WHERE a.id = %(lease)s AND a.annotator_id = %(user)s AND {may_annotate}
