"""Public registers a thief can check a canary against: BAN address points and RPPS treating physicians.

The operator imports the published files (`canary registers import ban|rpps`) into a side file next to
the registry; the generator then draws real address points and real nearby GPs for the communes those
files cover, and `canary lint` names the canaries that no longer match a refreshed register.
"""
