"""Getting a frame to many sockets fast: one channel per web process (fan-out), frames built once and
written straight to daphne's connections, one tally frame per round per interval across processes, the
channel layers, and the Redis watch that re-sends snapshots when Redis comes back."""
