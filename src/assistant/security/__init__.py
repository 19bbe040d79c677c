"""Decisions outside the model: roles and permissions, command policy, approvals, audit."""
