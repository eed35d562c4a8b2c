"""What the pages and the API share, below every app: the one error handler,
access checks (roles, second factor), upload limits and throttles, and the
audit context of a request.  Holds no models and imports no app."""
