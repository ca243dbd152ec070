/* The config file and the epoch log: round trips, and refusal of damaged files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/epoch_log.h"

Test(config, round_trip)
{
	struct sd_config c = { .ctime = 1700000000,
			       .copies = 3,
			       .copy_policy = 0x22,
			       .block_size_shift = 23,
			       .recycle_vid = true,
			       .epoch = 42 },
			 back;
	char text[1024], err[128];

	strcpy(c.store, "tree");
	config_format(&c, text, sizeof(text));
	cr_assert_eq(config_parse(text, &back, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(memcmp(&c, &back, sizeof(c)), 0);
}

Test(config, damaged_files_are_refused)
{
	struct sd_config c;
	char err[128];
	const char *bad[] = {
		"ctime=5\n",			    /* no version */
		"version=1\ncopies=99\n",	    /* too many copies */
		"version=1\nstore=ext4\n",	    /* unknown store */
		"version=1\nbogus=1\n",		    /* unknown key */
		"version=1\nctime=12x\n",	    /* trailing junk */
		"version=1\nctime=-1\n",	    /* negative */
		"version=1\nblock_size_shift=12\n", /* shift too small */
		"version=1\nctime=5\n",		    /* formatted, no copies */
		"version=1\nnoequals\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(config_parse(bad[i], &c, err, sizeof(err)), -EINVAL, "accepted: %s",
			     bad[i]);
}

Test(config, save_and_load_atomically)
{
	char dir[] = "/tmp/sdcfgXXXXXX", err[128], path[64];
	struct sd_config c = { .ctime = 1, .copies = 2, .block_size_shift = 22 }, back;

	cr_assert_not_null(mkdtemp(dir));
	strcpy(c.store, "plain");
	cr_assert_eq(config_save(dir, &c), 0);
	cr_assert_eq(config_load(dir, &back, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(back.copies, 2);
	snprintf(path, sizeof(path), "%s/config", dir);
	unlink(path);
	cr_assert_eq(config_load(dir, &back, err, sizeof(err)), -ENOENT);
	rmdir(dir);
}

Test(epoch_log, round_trip)
{
	char dir[] = "/tmp/sdepochXXXXXX";
	struct sd_node nodes[2] = { 0 };
	struct epoch_entry e = { .epoch = 3, .time = 1700000000, .nr_nodes = 2, .nodes = nodes },
			   back;

	cr_assert_not_null(mkdtemp(dir));
	node_addr_parse("127.0.0.1", nodes[0].nid.addr);
	nodes[0].nid.port = 7000;
	nodes[0].nr_vnodes = 128;
	nodes[0].zone = 16777343;
	node_addr_parse("fe80::1", nodes[1].nid.addr);
	nodes[1].nid.port = 7001;
	cr_assert_eq(epoch_log_write(dir, &e), 0);
	cr_assert_eq(epoch_log_read(dir, 3, &back), 0);
	cr_assert_eq(back.nr_nodes, 2);
	cr_assert_eq(back.time, 1700000000);
	cr_assert_eq(memcmp(back.nodes, nodes, sizeof(nodes)), 0);
	epoch_entry_free(&back);
	cr_assert_eq(epoch_log_read(dir, 4, &back), -ENOENT);
	cr_assert_eq(system("rm -rf /tmp/sdepoch??????"), 0);
}

Test(epoch_log, damaged_entries_are_refused)
{
	struct epoch_entry e;

	cr_assert_eq(epoch_log_parse("time=5\n", &e), -EINVAL, "no epoch");
	cr_assert_eq(epoch_log_parse("epoch=1\nnode=1.2.3.4 99999 1 1 1\n", &e), -EINVAL);
	cr_assert_eq(epoch_log_parse("epoch=1\nnode=not-an-ip 7000 1 1 1\n", &e), -EINVAL);
	cr_assert_eq(epoch_log_parse("epoch=1\nsurprise\n", &e), -EINVAL);
	cr_assert_eq(epoch_log_parse("epoch=1\nnode=1.2.3.4 7000 128 3 0\n", &e), 0);
	cr_assert_eq(e.nr_nodes, 1);
	epoch_entry_free(&e);
}
