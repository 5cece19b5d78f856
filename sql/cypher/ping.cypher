// Health check: the server answers a trivial read.
RETURN 1 AS ok
