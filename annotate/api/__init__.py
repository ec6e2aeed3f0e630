"""The REST API: one APIView per operation, ``<Entity><Action>Api`` (STYLE.md rule 2)."""
