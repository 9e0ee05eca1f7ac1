/* Thread jobs. See job.h for the contract. */
#include "core/job.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct loop_job {
    struct ferry_loop *loop;
    struct loop_watch wake; /* read end of the pipe; loop thread only */
    int wake_write;
    pthread_t thread;
    int joined;   /* loop thread only */
    int finished; /* done has run; loop thread only */
    loop_job_work_fn *work;
    loop_job_done_fn *done;
    loop_job_release_fn *release;
    void *data, *owner;
    atomic_int cancelled;
    pthread_mutex_t lock; /* guards returned and abandoned */
    pthread_cond_t returned_cond;
    int returned;  /* work has returned */
    int abandoned; /* the owner left: the thread frees the job */
};

static void job_destroy(struct loop_job *job)
{
    if (job->wake.fd >= 0)
        close(job->wake.fd);
    if (job->wake_write >= 0)
        close(job->wake_write);
    pthread_cond_destroy(&job->returned_cond);
    pthread_mutex_destroy(&job->lock);
    if (job->release)
        job->release(job->data);
    free(job);
}

static void *job_thread(void *arg)
{
    struct loop_job *job = arg;
    job->work(job, job->data);
    pthread_mutex_lock(&job->lock);
    job->returned = 1;
    int abandoned = job->abandoned;
    if (!abandoned) {
        ssize_t ignored = write(job->wake_write, "j", 1);
        (void)ignored;
        pthread_cond_signal(&job->returned_cond);
    }
    pthread_mutex_unlock(&job->lock);
    if (abandoned)
        job_destroy(job); /* the thread was detached: nobody else holds the job */
    return NULL;
}

/* The thread has returned (or is about to): reap it. */
static void job_join(struct loop_job *job)
{
    if (job->joined)
        return;
    pthread_join(job->thread, NULL);
    job->joined = 1;
}

static void job_on_wake(struct loop_watch *watch, short revents)
{
    (void)revents;
    struct loop_job *job = (struct loop_job *)((char *)watch - offsetof(struct loop_job, wake));
    char byte;
    ssize_t ignored = read(watch->fd, &byte, 1);
    (void)ignored;
    loop_watch_stop(job->loop, watch);
    job_join(job);
    job->finished = 1;
    job->done(job->owner);
}

struct loop_job *loop_job_start(struct ferry_loop *loop, loop_job_work_fn *work,
                                loop_job_done_fn *done, loop_job_release_fn *release, void *data,
                                void *owner)
{
    struct loop_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        int saved = errno;
        free(job);
        errno = saved;
        return NULL;
    }
    job->loop = loop;
    job->wake = (struct loop_watch){.fd = fds[0], .events = POLLIN, .on_event = job_on_wake};
    job->wake_write = fds[1];
    job->work = work;
    job->done = done;
    job->data = data;
    job->owner = owner;
    atomic_init(&job->cancelled, 0);
    pthread_mutex_init(&job->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&job->returned_cond, &attributes);
    pthread_condattr_destroy(&attributes);
    /* Signals (Ctrl-C, SIGPIPE) stay with the loop's thread. */
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    int failed = pthread_create(&job->thread, NULL, job_thread, job);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (failed) {
        job_destroy(job); /* release is still NULL: data stays the caller's */
        errno = failed;
        return NULL;
    }
    job->release = release;
    loop_watch_start(loop, &job->wake);
    return job;
}

int loop_job_cancelled(struct loop_job *job)
{
    return atomic_load(&job->cancelled);
}

int loop_job_finished(const struct loop_job *job)
{
    return job->finished;
}

void loop_job_cancel(struct loop_job *job, double wait_seconds)
{
    if (!job)
        return;
    atomic_store(&job->cancelled, 1);
    loop_watch_stop(job->loop, &job->wake);
    pthread_mutex_lock(&job->lock);
    if (!job->returned && wait_seconds > 0) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)wait_seconds;
        deadline.tv_nsec += (long)((wait_seconds - (double)(time_t)wait_seconds) * 1e9);
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (!job->returned &&
               pthread_cond_timedwait(&job->returned_cond, &job->lock, &deadline) != ETIMEDOUT) {
        }
    }
    if (job->returned) {
        pthread_mutex_unlock(&job->lock);
        job_join(job);
        job_destroy(job);
        return;
    }
    job->abandoned = 1;
    pthread_mutex_unlock(&job->lock);
    pthread_detach(job->thread);
}
