#include "sig.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t sig_stop;
volatile sig_atomic_t sig_reload;
volatile sig_atomic_t sig_status;

static void on_stop(int signo)
{
	if (sig_stop)
		_exit(128 + signo);
	sig_stop = signo;
}

static void on_reload(int signo) { (void)signo; sig_reload = 1; }
static void on_status(int signo) { (void)signo; sig_status = 1; }

static void set(int signo, void (*fn)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: interrupt blocking reads */
	sigaction(signo, &sa, NULL);
}

void sig_install(void)
{
	set(SIGINT, on_stop);
	set(SIGTERM, on_stop);
	set(SIGHUP, on_reload);
	set(SIGUSR1, on_status);
	set(SIGPIPE, SIG_IGN);
}

int sig_exit_code(void)
{
	return sig_stop ? 128 + sig_stop : 0;
}

void sig_block_handled(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, old);
}
