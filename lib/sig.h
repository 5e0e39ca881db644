/*
 * sig: signals as flags that main loops poll.
 *
 * Promises: after sig_install, SIGINT and SIGTERM set sig_stop (the signal
 * number) and interrupt blocking reads (no SA_RESTART), so a loop notices
 * at once; a second SIGINT/SIGTERM exits at once with 128+signo, which is
 * safe because every file a tool owns is written crash-safely. SIGHUP sets
 * sig_reload, SIGUSR1 sets sig_status; the loop clears them. SIGPIPE is
 * ignored so that a closed stdout shows up as EPIPE.
 */
#ifndef CCE_SIG_H
#define CCE_SIG_H

#include <signal.h>

extern volatile sig_atomic_t sig_stop;
extern volatile sig_atomic_t sig_reload;
extern volatile sig_atomic_t sig_status;

void sig_install(void);
/* Blocks, in the calling thread, the signals sig_install handles (INT, TERM,
 * HUP, USR1) and saves the old mask in *old: threads created before
 * pthread_sigmask(SIG_SETMASK, old, NULL) leave them to the main thread. */
void sig_block_handled(sigset_t *old);
/* Exit code for a run stopped by a signal: 128+signo (130 for SIGINT). */
int sig_exit_code(void);

#endif
