/* SPDX-License-Identifier: MIT */
/* A shared object without the horus_node_entry descriptor: must be refused. */
__attribute__((visibility("default"))) int not_a_node(void);

int not_a_node(void)
{
	return 42;
}
