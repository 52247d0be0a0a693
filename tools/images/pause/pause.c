/* The pod sandbox's pause process: holds the pod's namespaces open, reaps orphaned children
 * (it is PID 1 of a pod that shares its PID namespace) and exits on SIGINT or SIGTERM.
 * Built statically with `gcc -static` by tools/build-images.sh. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  fprintf(stderr, "pause: signal %d, exiting\n", sig);
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && argv[1][0] == '-' && argv[1][1] == 'v') {
    printf("pause (durable-db-operator local build)\n");
    return 0;
  }
  struct sigaction sa = {0};
  sa.sa_handler = stop;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = reap;
  sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &sa, NULL);
  for (;;) pause();
  return 42;
}
