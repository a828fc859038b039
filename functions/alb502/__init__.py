"""alb502: explain every 502 of an AWS Application Load Balancer."""

__version__ = "0.1.0"
