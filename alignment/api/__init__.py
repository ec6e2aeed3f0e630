"""The alignment REST API: plans, rounds and model versions, one APIView per operation (STYLE.md rule 2)."""
