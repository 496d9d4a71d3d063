/*
 * rollout.c: the rollout thread, which walks gray rules with a rollout plan
 * through their steps (issue 10). Being written: for now only the poke.
 */
#include "srv_internal.h"

void srv_rollout_poke(srv *s)
{
	(void)s;
}
