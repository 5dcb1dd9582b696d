"""xpart's local AWS test-bed: one emulated partition per process.

moto's server provides IAM, STS, KMS, Secrets Manager and EC2; this package adds
IAM Roles Anywhere (control plane and CreateSession), fidelity fixes where moto
differs from AWS on things xpart relies on, and a seeded fault layer.
"""
