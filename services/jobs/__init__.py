"""Jobs over their life: the job repository, admission, dispatch, cancel, rollback, retry, schedules, retention, limits, templates, API keys."""
