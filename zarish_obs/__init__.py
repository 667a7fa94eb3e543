"""zarish-obs: observability provisioner and SLO/DR monitor for ZARISH HIS."""

__version__ = "0.1.0"
