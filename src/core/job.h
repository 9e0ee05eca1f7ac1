/* Thread jobs: blocking work (libgit2's network calls) on a thread of its
 * own while the event loop goes on.
 *
 * A job runs work(job, data) on a new thread with every signal blocked. When
 * work returns, the thread wakes the loop through a pipe the loop watches,
 * and done(owner) runs on the loop's thread, from loop_poll(); done only
 * marks the owner's op ready. work must not touch Lua, the loop or anything
 * but data: the caller converts every Lua value to C before the start and
 * reads the results after done.
 *
 * Ownership: data belongs to the job from a successful loop_job_start until
 * loop_job_cancel (after done, or to give up), which hands it to release().
 * An owner that goes away while work still runs (a cancelled task, a
 * collected op) calls loop_job_cancel too: the job stops waking the loop and
 * the thread releases data itself when work returns. */
#ifndef FERRY_JOB_H
#define FERRY_JOB_H

#include "core/loop.h"

struct loop_job;

typedef void loop_job_work_fn(struct loop_job *job, void *data); /* worker thread */
typedef void loop_job_done_fn(void *owner);                      /* loop thread */
typedef void loop_job_release_fn(void *data);                    /* either thread */

/* Starts work(job, data) on a new thread. Returns the job, or NULL with
 * errno set (data then still belongs to the caller). */
struct loop_job *loop_job_start(struct ferry_loop *loop, loop_job_work_fn *work,
                                loop_job_done_fn *done, loop_job_release_fn *release, void *data,
                                void *owner);

/* For work: true once the owner asked the job to stop (loop_job_cancel).
 * Long work checks it in its progress callbacks and gives up. */
int loop_job_cancelled(struct loop_job *job);

/* For the loop thread: true once work has returned and done has run. */
int loop_job_finished(const struct loop_job *job);

/* Asks work to stop and waits up to wait_seconds for it to return (so its
 * cleanup, such as removing a half-cloned directory, is over before the
 * owner goes on). Then frees the job, or, if work still runs, leaves the
 * thread to free it when work returns. done is not called after this. */
void loop_job_cancel(struct loop_job *job, double wait_seconds);

#endif
