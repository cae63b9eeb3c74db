"""EHR access-log watch: canary reads in audit trails."""
