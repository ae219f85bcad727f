/* The TLS session ticket keys in the master: the shared page mapped before
 * the first fork, and rotated on a timer every `ticket_key_rotation`
 * (transport_tls_tickets.h has the keys themselves). The timer follows
 * the page's schedule, not this master's start: a reload keeps it (a
 * shorter interval applies at once), and the master of a binary upgrade
 * goes on where the old one was.
 *
 * Tested by tests/unit/check_master_tickets.c and by
 * tests/integration/test_tls_resumption.py (rotation observed through its
 * log line). */
#include "master/internal.h"

#include <stddef.h>

#include "log.h"
#include "transport_tls_tickets.h"

static void on_ticket_timer(struct timer *t)
{
    struct master *m = (struct master *)((char *)t - offsetof(struct master, ticket_timer));
    tickets_schedule(m);
}

int tickets_prepare(struct master *m)
{
    timer_init(&m->ticket_timer, on_ticket_timer);
    return tls_tickets_map();
}

void tickets_finish(struct master *m)
{
    loop_timer_cancel(m->loop, &m->ticket_timer);
    tls_tickets_unmap();
}

static bool any_tls(const struct herd_config *cfg)
{
    for (size_t i = 0; i < cfg->n_servers; i++)
        if (cfg->servers[i].tls)
            return true;
    return false;
}

void tickets_schedule(struct master *m)
{
    const struct herd_config *cfg = m->current ? m->current->cfg : NULL;
    if (cfg == NULL || master_stopping(m))
        return;
    bool rotated;
    int64_t now = loop_now(m->loop);
    int64_t next = tls_tickets_rotate(now, cfg->ticket_key_rotation, &rotated);
    if (rotated)
        log_msg(any_tls(cfg) ? LOG_INFO : LOG_DEBUG,
                "TLS: session ticket keys rotated (rotation %llu; the next in %lld ms)",
                (unsigned long long)tls_tickets_rotations(), (long long)(next - now));
    if (next >= 0)
        loop_timer_at(m->loop, &m->ticket_timer, next);
}
