"""The Faust application: topics, agents, tables and timers. Thin: logic lives in services/."""
