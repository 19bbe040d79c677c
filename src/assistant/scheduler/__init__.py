"""Scheduled work: reminders, scheduled agent turns and monitoring checks (one jobs table, one
timer on the clock; APScheduler's trigger classes compute the fire times)."""
