/*
 * tendd: the daemon. Argument parsing and wiring only.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend/config.h"
#include "tend/daemon.h"
#include "tend/rules.h"
#include "tend/smtp.h"

#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(f, "usage: tendd [-c CONFIG] [-v] [--once] [--check-config]\n"
	           "CONFIG defaults to $TEND_CONFIG, else /etc/tend/tend.yaml.\n");
}

/* Validates the rules the configuration names, when that file exists. */
static int check_rules(const struct config *c)
{
	struct rules *r = NULL;
	struct diags d = DIAGS_INIT;
	if (access(c->rules, F_OK) != 0 && errno == ENOENT) {
		printf("%s: does not exist: the built-in rules apply\n", c->rules);
		return 0;
	}
	int rc = rules_load(c->rules, &r, &d);
	if (rc < 0) {
		diags_print(&d);
		fprintf(stderr, "%s: %zu error%s\n", c->rules, d.n, d.n == 1 ? "" : "s");
	} else {
		printf("%s: OK (%zu rules)\n", c->rules, rules_count(r));
	}
	diags_free(&d);
	rules_free(r);
	return rc < 0 ? 1 : 0;
}

/* Validates the configuration and its rules, reporting every problem with file:line:column. */
static int check_config(const char *path)
{
	struct config *c = NULL;
	struct diags d = DIAGS_INIT;
	if (config_load(path, &c, &d) < 0 || smtp_check_config(c, &d) > 0) {
		diags_print(&d);
		fprintf(stderr, "%s: %zu error%s\n", path, d.n, d.n == 1 ? "" : "s");
		diags_free(&d);
		config_free(c);
		return 1;
	}
	printf("%s: OK (store %s, %zu account%s)\n", path, c->store, c->naccounts,
	       c->naccounts == 1 ? "" : "s");
	diags_free(&d);
	int rc = check_rules(c);
	config_free(c);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"once", no_argument, NULL, 'o'},
	    {"check-config", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"verbose", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_arg = NULL;
	bool check = false;
	struct daemon_options opt = {0};
	int ch;
	log_init("tendd", 0);
	while ((ch = getopt_long(argc, argv, "c:hv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_arg = optarg;
			break;
		case 'o':
			opt.once = true;
			break;
		case 'C':
			check = true;
			break;
		case 'v':
			log_init("tendd", 1);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tendd %s\n", TEND_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tendd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *path = config_default_path(config_arg);
	if (check)
		return check_config(path);
	smtp_global_init(); /* before any thread starts */
	int status = daemon_run(path, &opt);
	smtp_global_cleanup();
	return status;
}
