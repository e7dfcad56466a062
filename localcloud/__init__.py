"""The Docker-free local cloud: reads template.yaml and brings the stack up on moto (DESIGN section 6)."""
