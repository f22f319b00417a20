"""The AI's turn, from a closed round to text in every browser: one folder to follow a job.

    voting.services.round_close      a round closes: its winning proposal is recorded as a GenerationJob
                                     (voting.models), queued (services.job_queue)
    worker.jobs_loop                 a worker (a thread of the web process in the embedded profile,
                                     `manage.py relayworker` processes in the scaled one: voting's command)
                                     claims it (services.job_claim)
    worker.execute_job               reads the story, writes through engine (the one door to the engine for
                                     writing) and streams the text to the novel's pages as it comes
                                     (voting.events.generation_chunk), beating its heartbeat (services.job_beat)
    services.job_finish_with_turn    the AI's turn is added once, the relay goes on (a next round opens);
    services.job_finish_with_candidates  or readers choose among the AI's candidates in a second vote
    services.job_attempt_failed      a failed attempt is tried again, three at most; a worker gone silent has
    services.jobs_requeue_stale      its job taken up by another (the job's lease: worker and attempt)

Every write a job makes goes through services; the worker only reads, writes
with the engine and sends.
"""
