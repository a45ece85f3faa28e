"""The actions service's pure decisions: action lifecycle, automation rules, playbook, SLAs, impact and recovery."""
