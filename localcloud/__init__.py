"""The Docker-free local cloud: reads template.yaml and brings the stack up on moto (docs/local-cloud.md)."""
