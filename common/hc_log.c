/*
 * hc_log.c: timestamped lines on stderr. Any thread.
 */
#include "hc_log.h"

#include <stdarg.h>
#include <stdio.h>

#include "clock.h"
#include "sbuf.h"

void hc_log(const char *fmt, ...)
{
	sbuf line = SBUF_INIT(8192);
	char ts[32];
	va_list ap;

	clock_format_iso(clock_wall_ms(), ts);
	sbuf_addf(&line, "%s hotconf: ", ts);
	va_start(ap, fmt);
	sbuf_vaddf(&line, fmt, ap);
	va_end(ap);
	sbuf_addch(&line, '\n');
	fputs(line.buf, stderr);
	sbuf_release(&line);
}
