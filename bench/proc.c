/*
 * proc.c: the server's memory and CPU, read from /proc/PID. RSS is VmRSS;
 * CPU time is the sum of every thread's schedstat run time (nanoseconds, so
 * a 3-second idle sample can tell 0.1% from 0.5%), or utime+stime from
 * /proc/PID/stat (clock ticks) where schedstat is missing. Any thread.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hcload.h"

long long hl_proc_rss(long pid)
{
	char path[64], line[256];
	long long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6)) {
			kb = strtoll(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/* The first number of a small file, or -1. */
static long long first_number(const char *path)
{
	char buf[128];
	FILE *f = fopen(path, "r");
	long long v = -1;

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = strtoll(buf, NULL, 10);
	fclose(f);
	return v;
}

/* utime+stime of the whole process (dead threads included), in ns. */
static long long stat_cpu_ns(long pid)
{
	char path[64], buf[1024];
	unsigned long long ut, st;
	const char *p;
	FILE *f;
	size_t n;
	long hz = sysconf(_SC_CLK_TCK);

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: start after the
	 * last ')'. utime and stime are fields 14 and 15. */
	p = strrchr(buf, ')');
	if (!p || hz <= 0 ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)((ut + st) * (1000000000ULL / (unsigned long long)hz));
}

long long hl_proc_cpu_ns(long pid)
{
	char path[64], tpath[320];
	struct dirent *d;
	long long sum = 0;
	DIR *dir;
	int nthreads = 0;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	dir = opendir(path);
	if (!dir)
		return stat_cpu_ns(pid);
	while ((d = readdir(dir)) && nthreads < 100000) {
		long long v;

		if (d->d_name[0] == '.')
			continue;
		snprintf(tpath, sizeof(tpath), "%s/%.200s/schedstat", path, d->d_name);
		v = first_number(tpath);
		if (v < 0) {
			/* A thread may exit between readdir and open; anything else
			 * means no schedstat here. */
			if (access(tpath, F_OK) == 0) {
				closedir(dir);
				return stat_cpu_ns(pid);
			}
			continue;
		}
		sum += v;
		nthreads++;
	}
	closedir(dir);
	return nthreads ? sum : stat_cpu_ns(pid);
}
