/* SPDX-License-Identifier: MIT */
#ifndef HORUS_PUBSUB_H
#define HORUS_PUBSUB_H

/*
 * The shared-memory bus.
 *
 * Hub: a topic with many publishers and many subscribers. Every subscriber sees every message
 * published after it joined, in order, unless it falls more than `capacity` messages behind:
 * then it loses the oldest ones and is told exactly how many. Subscribers never slow publishers.
 *
 * Link: one producer, one consumer, FIFO, nothing lost. A full link refuses with -EAGAIN.
 *
 * Segments live in /dev/shm, named from a namespace and the topic name. Every function that takes
 * `ns` accepts NULL, meaning $HORUS_NAMESPACE, else "default".
 *
 * Names: a namespace is 1..32 of [A-Za-z0-9_-]; a topic is 1..HORUS_TOPIC_MAX of
 * [A-Za-z0-9_.-/], not starting or ending with '/', without "//" or "..".
 *
 * Errors are negative errno values:
 *   -EINVAL   bad argument (name, size, NULL handle)
 *   -EPROTO   the segment is corrupt or foreign (wrong magic, version, geometry, wild index)
 *   -EAGAIN   nothing to read / no space (Link) / would block
 *   -EMSGSIZE message larger than the topic's max_msg, or than the caller's buffer
 *   -EBUSY    a Link already has a live producer (or consumer)
 *   -EUSERS   all participant slots of the segment are taken by live processes
 *   -ENOSPC   /dev/shm is full (the segment is not left behind)
 *   -ETIMEDOUT a wait ran out
 * and whatever shm_open/mmap/fcntl report (-EACCES, -ENOMEM, ...).
 *
 * Threads: a horus_pub may be used from any number of threads at once (publish, loan, commit,
 * discard). A horus_sub and a horus_link end belong to one thread at a time.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HORUS_TOPIC_MAX 200
#define HORUS_NAMESPACE_MAX 32

/* Defaults used when a topic is created without explicit geometry. */
#define HORUS_DEFAULT_CAPACITY 16u
#define HORUS_DEFAULT_MAX_MSG 65536u
/* Hard limits: capacity is a power of two in [2, 65536]; max_msg in [1, 256 MiB]. */
#define HORUS_CAPACITY_MAX 65536u
#define HORUS_MAX_MSG_MAX (256u * 1024u * 1024u)
/* Live participants (publishers + subscribers, or link ends) one segment can hold. */
#define HORUS_PARTICIPANTS_MAX 64u

enum horus_kind {
	HORUS_KIND_HUB = 1,
	HORUS_KIND_LINK = 2,
};

/*
 * Geometry for a topic. Used only by whoever creates the segment ("the first one decides");
 * zero fields take the defaults. Opening an existing topic ignores capacity; a max_msg larger
 * than the existing topic's is refused with -EMSGSIZE.
 */
struct horus_topic_opts {
	uint32_t capacity; /* slots, power of two */
	uint32_t max_msg;  /* bytes per message */
};

/* ---- Hub: publisher ---------------------------------------------------------------------- */

struct horus_pub;

/* Opens (creating if needed) hub topic `topic` for publishing. opts may be NULL. */
int horus_pub_open(const char *ns, const char *topic, const struct horus_topic_opts *opts,
		   struct horus_pub **ret);

/*
 * Copies `len` bytes (len <= max_msg) into the next slot and publishes them. Returns 0, or
 * -EAGAIN in two rare cases, after waiting 100 ms for a live writer that is SIGSTOPped (or
 * similar): the slot it laps is still held by that writer (or by an open loan a whole ring old),
 * or that writer is the topic's sole publisher stopped inside its own publish (docs/bus.md, "One
 * publisher: the fast path"). The message is not published.
 */
int horus_pub_publish(struct horus_pub *pub, const void *data, size_t len);

/*
 * Zero-copy publish: loan a slot for a message of `len` bytes, fill *ret_buf, then commit it.
 * Each loan ends in exactly one horus_pub_commit() or horus_pub_discard(). While a loan is open
 * the slot is reserved; subscribers see the message when it is committed. A discarded loan is
 * counted by subscribers as one lost message.
 */
int horus_pub_loan(struct horus_pub *pub, size_t len, void **ret_buf);
/* -EINVAL if buf is not an open loan of this publisher. */
int horus_pub_commit(struct horus_pub *pub, void *buf);
int horus_pub_discard(struct horus_pub *pub, void *buf);

/* Largest message this topic carries. */
size_t horus_pub_max_msg(const struct horus_pub *pub);

/* Detaches. Open loans are discarded. NULL is accepted. */
void horus_pub_close(struct horus_pub *pub);

/* ---- Hub: subscriber --------------------------------------------------------------------- */

struct horus_sub;

/*
 * Subscribes to hub topic `topic` (creating it with opts if it does not exist yet).
 * A new subscriber starts after the newest message: it receives what is published from now on.
 * last_n > 0 asks for up to that many of the most recent messages still in the ring first.
 */
int horus_sub_open(const char *ns, const char *topic, const struct horus_topic_opts *opts,
		   uint32_t last_n, struct horus_sub **ret);

struct horus_msg_info {
	uint64_t seq;  /* topic-wide sequence number of the message */
	uint64_t lost; /* messages this subscriber lost just before this one */
};

/*
 * Copies the next message into buf (cap bytes). Returns its length, or -EAGAIN when there is
 * nothing new, or -EMSGSIZE when cap is too small (the message stays unread; info->seq and the
 * needed length are not consumed: call horus_sub_next_len()). info may be NULL.
 * A returned message is never torn: if a publisher overwrote it during the copy, it counts as
 * lost and the next one is tried.
 */
int horus_sub_read(struct horus_sub *sub, void *buf, size_t cap, struct horus_msg_info *info);

/* Length of the next message if one is ready, else -EAGAIN. */
int horus_sub_next_len(struct horus_sub *sub);

/*
 * Zero-copy read: points *ret at the next message in place and consumes it. The data may be
 * overwritten by publishers at any time; after using it, horus_sub_check() tells whether it
 * stayed valid (0) or was overwritten meanwhile (-ESTALE, and the sample counts as lost).
 */
struct horus_sample {
	const void *data;
	size_t len;
	uint64_t seq;
	uint64_t lost;   /* as in horus_msg_info */
	uint64_t stamp_; /* internal */
};
int horus_sub_take(struct horus_sub *sub, struct horus_sample *ret);
int horus_sub_check(struct horus_sub *sub, const struct horus_sample *sample);

/*
 * Waits until a message is ready. timeout_ns < 0 waits forever, 0 only checks.
 * Returns 0 when ready, -ETIMEDOUT, or -EINTR if a signal interrupted the sleep itself (a
 * signal that lands between two sleeps is not reported: a caller that must react to signals
 * waits with a timeout and checks its own flag). Publishers wake sleepers through a futex only
 * when someone sleeps.
 */
int horus_sub_wait(struct horus_sub *sub, int64_t timeout_ns);

/* Messages this subscriber lost in total (fell behind, or a publisher died mid-write). */
uint64_t horus_sub_lost(const struct horus_sub *sub);
/* Messages this subscriber received in total. */
uint64_t horus_sub_received(const struct horus_sub *sub);

void horus_sub_close(struct horus_sub *sub);

/* ---- Link: one producer, one consumer ---------------------------------------------------- */

struct horus_link;

enum horus_link_role {
	HORUS_LINK_PRODUCER = 1,
	HORUS_LINK_CONSUMER = 2,
};

/*
 * Opens one end of link `name` (creating it with opts if needed). A second live producer or
 * consumer gets -EBUSY. When an end dies, a new process can take its place and continue.
 */
int horus_link_open(const char *ns, const char *name, enum horus_link_role role,
		    const struct horus_topic_opts *opts, struct horus_link **ret);

/* Producer: 0, or -EAGAIN when the link is full, -EMSGSIZE when len > max_msg. */
int horus_link_send(struct horus_link *link, const void *data, size_t len);
/* Producer, zero-copy: *ret_buf has room for max_msg bytes; commit sends len of them. */
int horus_link_loan(struct horus_link *link, void **ret_buf);
int horus_link_commit(struct horus_link *link, size_t len);

/* Consumer: length of the message copied into buf, -EAGAIN when empty, -EMSGSIZE (kept). */
int horus_link_recv(struct horus_link *link, void *buf, size_t cap);

/*
 * Producer: waits for space. Consumer: waits for a message. Timeout as horus_sub_wait().
 */
int horus_link_wait(struct horus_link *link, int64_t timeout_ns);

size_t horus_link_max_msg(const struct horus_link *link);
void horus_link_close(struct horus_link *link);

/* ---- Introspection and cleaning ---------------------------------------------------------- */

struct horus_topic_info {
	char name[HORUS_TOPIC_MAX + 1];
	uint32_t kind;        /* enum horus_kind */
	uint32_t capacity;
	uint32_t max_msg;
	uint32_t publishers;  /* hub publishers, or 1 if a link has a live producer */
	uint32_t subscribers; /* hub subscribers, or 1 if a link has a live consumer */
	int32_t creator_pid;
	uint64_t messages;    /* committed messages */
	uint64_t bytes;       /* committed payload bytes */
	uint64_t lost;        /* hub: sum of all subscribers' lost counts */
	uint64_t sequences;   /* hub: sequence numbers handed out; for every subscriber that
			       * has caught up, received + lost == sequences - its start */
	uint64_t holes;       /* hub: sequence numbers known to carry no message (discarded
			       * loans; writers that died or gave up mid-write, counted when
			       * the next writer takes their slot, i.e. up to a lap later) */
	uint64_t pending;     /* link: messages sent and not yet received */
};

/* Reads a topic's header counters. Dead participants found on the way are reclaimed. */
int horus_topic_info(const char *ns, const char *topic, enum horus_kind kind,
		     struct horus_topic_info *ret);

/*
 * Calls cb for every topic of the namespace. A segment that cannot be read (foreign, corrupt)
 * is reported with kind 0 and its file name. cb returning non-zero stops the walk.
 * Returns the number of topics visited, or a negative errno.
 */
int horus_topic_list(const char *ns, int (*cb)(const struct horus_topic_info *info, void *userdata),
		     void *userdata);

/*
 * Removes the namespace's segments that no live process holds (stale ones, left by crashes,
 * and corrupt ones). Segments in use are kept. Returns the number removed.
 */
int horus_clean(const char *ns);

/*
 * Removes the topic's segment name now, whoever holds it: processes that have it open keep
 * their mapping, but nobody new finds it. For a daemon leaving topics that only its own stuck
 * threads still hold; horus_clean() is the safe way otherwise. -ENOENT if there is none.
 */
int horus_topic_remove(const char *ns, const char *topic, enum horus_kind kind);

/* 0 if topic is a valid topic name, else -EINVAL. */
int horus_topic_check(const char *topic);

/* Resolves ns (NULL: $HORUS_NAMESPACE, else "default") into buf; -EINVAL if invalid. */
int horus_namespace(const char *ns, char buf[HORUS_NAMESPACE_MAX + 1]);

#ifdef __cplusplus
}
#endif

#endif /* HORUS_PUBSUB_H */
