/*
 * The cluster state machine's membership commands: a LEAVE proposed while a member was silent
 * must not remove it once it has joined again (a partition that healed between the proposal
 * and its application), and the join index survives the wire (LEAVE commands, snapshots).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/sdcluster/sm.h"
#include "cluster/sys.h"
#include "cluster/vdi.h"
#include "cluster.pb-c.h"
#include "core/node.h"

static char dir[] = "/tmp/sd-test-sm.XXXXXX";

static void setup(void)
{
	cr_assert(mkdtemp(dir));
	snprintf(sys.dir, sizeof(sys.dir), "%s", dir);
	if (!sys.vdis.inuse)
		cr_assert_eq(vdi_table_init(&sys.vdis), 0);
	cr_assert_eq(sm_init(NULL), 0);
}

static void teardown(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static struct cluster_member member(uint64_t raft_id)
{
	struct cluster_member m;

	memset(&m, 0, sizeof(m));
	node_addr_parse("10.0.0.1", m.node.nid.addr);
	m.node.nid.addr[15] = (uint8_t)raft_id;
	m.node.nid.port = 7000;
	m.node.nr_vnodes = 128;
	m.shards = 1;
	m.raft_id = raft_id;
	m.cluster_port = 7100;
	return m;
}

/* One command through sm_apply, as the log delivers it at index. */
static int apply(uint64_t index, Sdcl__Command__OpCase op, const struct cluster_member *m)
{
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	Sdcl__Member mm;
	uint8_t addr[16], buf[512];
	size_t len;

	sm_member_to_msg(m, &mm, addr);
	cmd.op_case = op;
	if (op == SDCL__COMMAND__OP_JOIN)
		cmd.join = &mm;
	else
		cmd.leave = &mm;
	len = sdcl__command__get_packed_size(&cmd);
	cr_assert_leq(len, sizeof(buf));
	sdcl__command__pack(&cmd, buf);
	return sm_apply(NULL, index, buf, len);
}

TestSuite(sm_members, .init = setup, .fini = teardown);

Test(sm_members, join_records_its_index)
{
	struct cluster_member a = member(1), b = member(2);

	apply(1, SDCL__COMMAND__OP_JOIN, &a);
	apply(2, SDCL__COMMAND__OP_JOIN, &b);
	cr_assert_eq(sm_member_by_raft_id(1)->joined, 1);
	cr_assert_eq(sm_member_by_raft_id(2)->joined, 2);
	/* The same member joining again as it is (a restart) changes nothing. */
	apply(3, SDCL__COMMAND__OP_JOIN, &a);
	cr_assert_eq(sm_member_by_raft_id(1)->joined, 1);
}

Test(sm_members, stale_leave_spares_a_member_that_joined_again)
{
	struct cluster_member a = member(1), b = member(2), seen;

	apply(1, SDCL__COMMAND__OP_JOIN, &a);
	apply(2, SDCL__COMMAND__OP_JOIN, &b);
	seen = *sm_member_by_raft_id(1); /* what a leader saw when node 1 fell silent */
	apply(3, SDCL__COMMAND__OP_LEAVE, &seen);
	cr_assert_null(sm_member_by_raft_id(1), "the first removal applies");
	apply(4, SDCL__COMMAND__OP_JOIN, &a);
	cr_assert_not_null(sm_member_by_raft_id(1));
	/* A second removal, proposed before the heal, reaches the log after the rejoin. */
	apply(5, SDCL__COMMAND__OP_LEAVE, &seen);
	cr_assert_not_null(sm_member_by_raft_id(1), "a stale removal took a live member out");
	cr_assert_eq(sys.nr_members, 2);
	/* A removal of the member as it is now applies. */
	seen = *sm_member_by_raft_id(1);
	apply(6, SDCL__COMMAND__OP_LEAVE, &seen);
	cr_assert_null(sm_member_by_raft_id(1));
	cr_assert_eq(sys.nr_members, 1);
}

Test(sm_members, leave_without_join_index_applies)
{
	struct cluster_member a = member(1), any;

	apply(1, SDCL__COMMAND__OP_JOIN, &a);
	any = a;
	any.joined = 0;
	apply(2, SDCL__COMMAND__OP_LEAVE, &any);
	cr_assert_null(sm_member_by_raft_id(1));
}

/* State snapshots and LEAVE commands carry members through these two. */
Test(sm_members, join_index_survives_the_wire)
{
	struct cluster_member a = member(1), back;
	Sdcl__Member mm;
	uint8_t addr[16], buf[256];
	Sdcl__Member *un;
	size_t len;

	a.joined = 12345678901ull;
	a.recovered = 7;
	sm_member_to_msg(&a, &mm, addr);
	len = sdcl__member__get_packed_size(&mm);
	cr_assert_leq(len, sizeof(buf));
	sdcl__member__pack(&mm, buf);
	un = sdcl__member__unpack(NULL, len, buf);
	cr_assert_not_null(un);
	cr_assert_eq(sm_member_from_msg(un, &back), 0);
	cr_assert_eq(back.joined, a.joined);
	cr_assert_eq(memcmp(&back, &a, sizeof(a)), 0);
	sdcl__member__free_unpacked(un, NULL);
}
