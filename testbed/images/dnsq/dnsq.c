/* dnsq: the C client of the node tests, built twice (glibc, dynamic; musl,
 * static). It asks through the libc resolver, so through the pod's
 * /etc/resolv.conf: search path, ndots, nameserver.
 *
 *   dnsq addr NAME...      getaddrinfo (IPv4) of each name: "NAME IP IP..."
 *                          with the addresses sorted; exit 1 if any fails
 *   dnsq name IP           getnameinfo with NI_NAMEREQD: the name
 *   dnsq srv NAME          res_search SRV: "PRIO WEIGHT PORT TARGET" lines
 *   dnsq loop NAME SECS MS getaddrinfo every MS for SECS: "ok=N fail=M"
 *   dnsq sleep [SECS]      wait (for ever, or SECS); exit 0 on SIGTERM
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int addr(const char *name, int quiet) {
	struct addrinfo hints, *res, *ai;
	char *ips[64];
	int n = 0, rc, i;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(name, NULL, &hints, &res);
	if (rc != 0) {
		if (!quiet)
			printf("%s error %s\n", name, gai_strerror(rc));
		return 1;
	}
	for (ai = res; ai && n < 64; ai = ai->ai_next) {
		char buf[INET_ADDRSTRLEN];
		struct sockaddr_in *sin = (struct sockaddr_in *)ai->ai_addr;
		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
		for (i = 0; i < n && strcmp(ips[i], buf) != 0; i++)
			;
		if (i == n)
			ips[n++] = strdup(buf);
	}
	freeaddrinfo(res);
	qsort(ips, n, sizeof ips[0], cmp);
	if (!quiet) {
		printf("%s", name);
		for (i = 0; i < n; i++)
			printf(" %s", ips[i]);
		printf("\n");
	}
	for (i = 0; i < n; i++)
		free(ips[i]);
	return 0;
}

static int name(const char *ip) {
	struct sockaddr_in sin;
	char host[NI_MAXHOST];
	int rc;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1) {
		printf("%s error not an IPv4 address\n", ip);
		return 2;
	}
	rc = getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, NULL, 0, NI_NAMEREQD);
	if (rc != 0) {
		printf("%s error %s\n", ip, gai_strerror(rc));
		return 1;
	}
	printf("%s\n", host);
	return 0;
}

static int srv(const char *qname) {
	unsigned char buf[8192];
	ns_msg msg;
	ns_rr rr;
	char *lines[128];
	int len, i, n = 0, count;
	len = res_search(qname, ns_c_in, ns_t_srv, buf, sizeof buf);
	if (len < 0 || ns_initparse(buf, len, &msg) < 0) {
		printf("%s error no SRV\n", qname);
		return 1;
	}
	count = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < count && n < 128; i++) {
		const unsigned char *rd;
		char target[NS_MAXDNAME], line[NS_MAXDNAME + 64];
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_srv)
			continue;
		rd = ns_rr_rdata(rr);
		if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 6, target, sizeof target) < 0)
			continue;
		snprintf(line, sizeof line, "%u %u %u %s", ns_get16(rd), ns_get16(rd + 2), ns_get16(rd + 4), target);
		lines[n++] = strdup(line);
	}
	qsort(lines, n, sizeof lines[0], cmp);
	for (i = 0; i < n; i++) {
		printf("%s\n", lines[i]);
		free(lines[i]);
	}
	return n > 0 ? 0 : 1;
}

static int loop(const char *qname, int secs, int ms) {
	struct timespec start, now, gap = {ms / 1000, (ms % 1000) * 1000000L};
	long ok = 0, fail = 0;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		if (addr(qname, 1) == 0)
			ok++;
		else
			fail++;
		nanosleep(&gap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < secs);
	printf("ok=%ld fail=%ld\n", ok, fail);
	return 0;
}

static void done(int sig) {
	(void)sig;
	_exit(0);
}

int main(int argc, char **argv) {
	int i, rc = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "sleep") == 0) {
		signal(SIGTERM, done);
		signal(SIGINT, done);
		if (argc >= 3) {
			sleep(atoi(argv[2]));
			return 0;
		}
		for (;;)
			pause();
	}
	if (argc >= 3 && strcmp(argv[1], "addr") == 0) {
		for (i = 2; i < argc; i++)
			rc |= addr(argv[i], 0);
		return rc;
	}
	if (argc == 3 && strcmp(argv[1], "name") == 0)
		return name(argv[2]);
	if (argc == 3 && strcmp(argv[1], "srv") == 0)
		return srv(argv[2]);
	if (argc == 5 && strcmp(argv[1], "loop") == 0)
		return loop(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: dnsq addr NAME... | name IP | srv NAME | loop NAME SECS MS | sleep [SECS]\n");
	return 2;
}
