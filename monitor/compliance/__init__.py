"""`zarish-obs report`: SLO compliance over a calendar month or any range, for management and audits."""
