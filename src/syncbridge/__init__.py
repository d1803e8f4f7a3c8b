"""syncbridge: micro-internship outcomes into the applicant tracking system."""

__version__ = "0.1.0"
