/* The pause program of every pod sandbox, as upstream Kubernetes writes it (build/pause/linux/pause.c): it holds
 * the pod's namespaces, reaps orphaned children (it is PID 1 when the pod shares its PID namespace) and exits on
 * SIGINT or SIGTERM. tests/cluster/node.py compiles it with `gcc -static -Os` into the local pause image. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void sigdown(int signo) {
  psignal(signo, "Shutting down, got signal");
  exit(0);
}

static void sigreap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
}

int main(void) {
  if (getpid() != 1)
    fprintf(stderr, "Warning: pause should be the first process\n");
  if (sigaction(SIGINT, &(struct sigaction){.sa_handler = sigdown}, NULL) < 0)
    return 1;
  if (sigaction(SIGTERM, &(struct sigaction){.sa_handler = sigdown}, NULL) < 0)
    return 2;
  if (sigaction(SIGCHLD, &(struct sigaction){.sa_handler = sigreap, .sa_flags = SA_NOCLDSTOP}, NULL) < 0)
    return 3;
  for (;;)
    pause();
  return 42;
}
