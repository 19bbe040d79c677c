"""Scheduled work: reminders, scheduled agent turns and monitoring checks (APScheduler 3)."""
