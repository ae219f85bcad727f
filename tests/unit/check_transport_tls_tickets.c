/* Session ticket keys (src/transport_tls_tickets.c): key files in nginx's
 * byte order (80 and 48 bytes), the SNI name read from a ClientHello
 * extension, server identities and the keys derived for them, the shared
 * page (fresh random keys, rotation when due and only then, a shorter
 * interval at once, the page passed on to a new master), and readers that
 * never see a key half-written while a writer rotates as fast as it can.
 *
 * The callback's handshakes (resumption across workers, reloads,
 * rotations, hosts and instances) are in
 * tests/integration/test_tls_resumption.py. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "transport_tls_tickets.h"

START_TEST(key_file_80_bytes_is_name_hmac_aes)
{
    uint8_t b[80];
    for (int i = 0; i < 80; i++)
        b[i] = (uint8_t)i;
    struct tls_ticket_key k;
    ck_assert_int_eq(tls_ticket_key_parse(b, 80, &k), 0);
    ck_assert_int_eq(k.len, 32);
    ck_assert_int_eq(k.name[0], 0);
    ck_assert_int_eq(k.name[15], 15);
    ck_assert_int_eq(k.hmac[0], 16);
    ck_assert_int_eq(k.hmac[31], 47);
    ck_assert_int_eq(k.aes[0], 48);
    ck_assert_int_eq(k.aes[31], 79);
}
END_TEST

START_TEST(key_file_48_bytes_is_name_aes_hmac)
{
    uint8_t b[48];
    for (int i = 0; i < 48; i++)
        b[i] = (uint8_t)i;
    struct tls_ticket_key k;
    ck_assert_int_eq(tls_ticket_key_parse(b, 48, &k), 0);
    ck_assert_int_eq(k.len, 16);
    ck_assert_int_eq(k.name[15], 15);
    ck_assert_int_eq(k.aes[0], 16);     /* nginx: the AES key before the HMAC secret */
    ck_assert_int_eq(k.aes[15], 31);
    ck_assert_int_eq(k.hmac[0], 32);
    ck_assert_int_eq(k.hmac[15], 47);
}
END_TEST

START_TEST(key_file_of_another_size_is_refused)
{
    uint8_t b[100] = { 0 };
    struct tls_ticket_key k;
    size_t sizes[] = { 0, 16, 47, 49, 79, 81, 96 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        ck_assert_int_eq(tls_ticket_key_parse(b, sizes[i], &k), -1);
}
END_TEST

START_TEST(sni_host_name_is_read)
{
    char out[64];
    /* list length 10: host_name "a.test" (6) */
    const uint8_t one[] = { 0, 9, 0, 0, 6, 'a', '.', 't', 'e', 's', 't' };
    ck_assert_int_eq(tls_ticket_sni(one, sizeof one, out, sizeof out), 0);
    ck_assert_str_eq(out, "a.test");
    /* An entry of another type first is skipped. */
    const uint8_t two[] = { 0, 9, 7, 0, 1, 'x', 0, 0, 2, 'b', 'c' };
    ck_assert_int_eq(tls_ticket_sni(two, sizeof two, out, sizeof out), 0);
    ck_assert_str_eq(out, "bc");
}
END_TEST

START_TEST(sni_malformed_is_refused)
{
    char out[8];
    const uint8_t bad_list[] = { 0, 8, 0, 0, 6, 'a', '.', 't', 'e', 's', 't' };
    ck_assert_int_eq(tls_ticket_sni(bad_list, sizeof bad_list, out, sizeof out), -1);
    const uint8_t bad_name[] = { 0, 5, 0, 0, 9, 'a', 'b' };
    ck_assert_int_eq(tls_ticket_sni(bad_name, sizeof bad_name, out, sizeof out), -1);
    const uint8_t nul[] = { 0, 5, 0, 0, 2, 'a', 0 };
    ck_assert_int_eq(tls_ticket_sni(nul, sizeof nul, out, sizeof out), -1);
    const uint8_t empty[] = { 0, 3, 0, 0, 0 };
    ck_assert_int_eq(tls_ticket_sni(empty, sizeof empty, out, sizeof out), -1);
    const uint8_t other[] = { 0, 4, 5, 0, 1, 'x' };
    ck_assert_int_eq(tls_ticket_sni(other, sizeof other, out, sizeof out), -1);
    const uint8_t too_long[] = { 0, 11, 0, 0, 8, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h' };
    ck_assert_int_eq(tls_ticket_sni(too_long, sizeof too_long, out, sizeof out), -1);
    ck_assert_int_eq(tls_ticket_sni(too_long, 1, out, sizeof out), -1);
}
END_TEST

START_TEST(identity_is_the_names)
{
    uint8_t a[TLS_TICKET_ID], b[TLS_TICKET_ID], c[TLS_TICKET_ID], d[TLS_TICKET_ID],
        none[TLS_TICKET_ID];
    const char *ab[] = { "a.test", "b.test" }, *ba[] = { "b.test", "a.test" };
    const char *joined[] = { "a.testb.test" };
    tls_ticket_identity(ab, 2, a);
    tls_ticket_identity(ab, 2, b);
    ck_assert_mem_eq(a, b, sizeof a);
    tls_ticket_identity(ba, 2, c);
    ck_assert(memcmp(a, c, sizeof a) != 0);
    tls_ticket_identity(joined, 1, d);
    ck_assert(memcmp(a, d, sizeof a) != 0);     /* names are kept apart */
    tls_ticket_identity(NULL, 0, none);
    ck_assert(memcmp(a, none, sizeof a) != 0);
}
END_TEST

START_TEST(derived_keys_differ_by_server)
{
    uint8_t raw[80];
    for (int i = 0; i < 80; i++)
        raw[i] = (uint8_t)(i * 7);
    struct tls_ticket_key base, x1, x2, y, short_key, s1;
    ck_assert_int_eq(tls_ticket_key_parse(raw, 80, &base), 0);
    uint8_t ida[TLS_TICKET_ID], idb[TLS_TICKET_ID];
    const char *a[] = { "a.test" }, *b[] = { "b.test" };
    tls_ticket_identity(a, 1, ida);
    tls_ticket_identity(b, 1, idb);
    ck_assert_int_eq(tls_ticket_derive(&base, ida, &x1), 0);
    ck_assert_int_eq(tls_ticket_derive(&base, ida, &x2), 0);
    ck_assert_int_eq(tls_ticket_derive(&base, idb, &y), 0);
    ck_assert_mem_eq(&x1, &x2, sizeof x1);
    ck_assert_mem_eq(x1.name, base.name, TLS_TICKET_NAME);
    ck_assert_mem_eq(y.name, base.name, TLS_TICKET_NAME);
    ck_assert(memcmp(x1.hmac, y.hmac, TLS_TICKET_SECRET) != 0);
    ck_assert(memcmp(x1.aes, y.aes, TLS_TICKET_SECRET) != 0);
    ck_assert(memcmp(x1.hmac, base.hmac, TLS_TICKET_SECRET) != 0);
    ck_assert(memcmp(x1.hmac, x1.aes, TLS_TICKET_SECRET) != 0);
    /* A 48-byte file's 16-byte secrets give 32-byte keys too. */
    ck_assert_int_eq(tls_ticket_key_parse(raw, 48, &short_key), 0);
    ck_assert_int_eq(tls_ticket_derive(&short_key, ida, &s1), 0);
    ck_assert_int_eq(s1.len, 32);
    ck_assert(memcmp(s1.aes, x1.aes, TLS_TICKET_SECRET) != 0);
}
END_TEST

START_TEST(page_starts_with_two_random_keys)
{
    struct tls_ticket_key k[2];
    ck_assert_int_eq(tls_tickets_read(k), -1);          /* not mapped */
    bool rotated;
    ck_assert_int_eq(tls_tickets_rotate(0, 1000, &rotated), -1);
    ck_assert_int_eq(tls_tickets_map(), 0);
    ck_assert_int_eq(tls_tickets_read(k), 0);
    ck_assert(memcmp(k[0].name, k[1].name, TLS_TICKET_NAME) != 0);
    ck_assert(memcmp(k[0].hmac, k[1].hmac, TLS_TICKET_SECRET) != 0);
    ck_assert_int_eq(k[0].len, 32);
    ck_assert_uint_eq(tls_tickets_rotations(), 0);
    tls_tickets_unmap();
}
END_TEST

START_TEST(rotation_when_due_and_only_then)
{
    struct tls_ticket_key before[2], after[2];
    bool rotated;
    ck_assert_int_eq(tls_tickets_map(), 0);
    ck_assert_int_eq(tls_tickets_read(before), 0);
    /* The first call schedules. */
    ck_assert_int_eq(tls_tickets_rotate(5000, 1000, &rotated), 6000);
    ck_assert(!rotated);
    ck_assert_int_eq(tls_tickets_rotate(5999, 1000, &rotated), 6000);
    ck_assert(!rotated);
    ck_assert_int_eq(tls_tickets_read(after), 0);
    ck_assert_mem_eq(&before, &after, sizeof before);
    /* Due: the current key becomes the previous one. */
    ck_assert_int_eq(tls_tickets_rotate(6000, 1000, &rotated), 7000);
    ck_assert(rotated);
    ck_assert_uint_eq(tls_tickets_rotations(), 1);
    ck_assert_int_eq(tls_tickets_read(after), 0);
    ck_assert_mem_eq(&after[1], &before[0], sizeof before[0]);
    ck_assert(memcmp(after[0].name, before[0].name, TLS_TICKET_NAME) != 0);
    ck_assert(memcmp(after[0].name, before[1].name, TLS_TICKET_NAME) != 0);
    /* A shorter interval (a reload) counts at once; a longer one waits. */
    ck_assert_int_eq(tls_tickets_rotate(6100, 500, &rotated), 6600);
    ck_assert(!rotated);
    ck_assert_int_eq(tls_tickets_rotate(6200, 5000, &rotated), 6600);
    ck_assert_int_eq(tls_tickets_rotate(6600, 5000, &rotated), 11600);
    ck_assert(rotated);
    ck_assert_uint_eq(tls_tickets_rotations(), 2);
    tls_tickets_unmap();
}
END_TEST

START_TEST(page_passes_on_to_a_new_master)
{
    struct tls_ticket_key old[2], young[2];
    bool rotated;
    ck_assert_int_eq(tls_tickets_map(), 0);
    tls_tickets_rotate(1000, 1000, &rotated);
    tls_tickets_rotate(2000, 1000, &rotated);
    ck_assert(rotated);
    ck_assert_int_eq(tls_tickets_read(old), 0);
    ck_assert_int_eq(tls_tickets_pass_on(200), 0);
    const char *env = getenv("HERD_TICKETS_FD");
    ck_assert_ptr_nonnull(env);
    ck_assert_int_ge(atoi(env), 200);
    /* What the new master finds: the same keys and schedule. */
    tls_tickets_unmap();
    ck_assert_int_eq(tls_tickets_map(), 0);
    ck_assert_ptr_null(getenv("HERD_TICKETS_FD"));
    ck_assert_int_eq(tls_tickets_read(young), 0);
    ck_assert_mem_eq(&old, &young, sizeof old);
    ck_assert_uint_eq(tls_tickets_rotations(), 1);
    ck_assert_int_eq(tls_tickets_rotate(2500, 1000, &rotated), 3000);
    ck_assert(!rotated);
    tls_tickets_unmap();
}
END_TEST

START_TEST(foreign_fd_makes_new_keys)
{
    setenv("HERD_TICKETS_FD", "999", 1);    /* no descriptor at all */
    ck_assert_int_eq(tls_tickets_map(), 0);
    ck_assert_ptr_null(getenv("HERD_TICKETS_FD"));
    struct tls_ticket_key k[2];
    ck_assert_int_eq(tls_tickets_read(k), 0);
    ck_assert_uint_eq(tls_tickets_rotations(), 0);
    tls_tickets_unmap();
}
END_TEST

/* Keys whose 80 bytes all equal a counter: a torn read shows two values. */
static unsigned char counter;

static int pattern(unsigned char *buf, int n)
{
    counter++;
    memset(buf, counter, (size_t)n);
    return 0;
}

static bool uniform(const struct tls_ticket_key *k, unsigned char *v)
{
    *v = k->name[0];
    for (int i = 0; i < TLS_TICKET_NAME; i++)
        if (k->name[i] != *v)
            return false;
    for (int i = 0; i < TLS_TICKET_SECRET; i++)
        if (k->hmac[i] != *v || k->aes[i] != *v)
            return false;
    return true;
}

START_TEST(readers_never_see_half_a_rotation)
{
    tls_tickets_random = pattern;
    ck_assert_int_eq(tls_tickets_map(), 0);
    volatile int *stop = mmap(NULL, sizeof *stop, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(stop != MAP_FAILED);
    *stop = 0;
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        /* A master rotating every microsecond or so (a writer that never
         * paused would starve the readers, which give up after a while:
         * the real one rotates once an hour). */
        bool rotated;
        for (int64_t now = 0; !*stop; now++) {
            tls_tickets_rotate(now, 1, &rotated);
            for (volatile int spin = 0; spin < 300; spin++)
                ;
        }
        _exit(0);
    }
    int reads = 0, changes = 0, gave_up = 0;
    unsigned char last = 0;
    time_t give_up = time(NULL) + 60;
    while ((reads < 100000 || changes < 100) && time(NULL) < give_up) {
        struct tls_ticket_key k[2];
        unsigned char cur, prev;
        if (tls_tickets_read(k) < 0) {
            gave_up++;          /* the writer was preempted mid-write */
            continue;
        }
        ck_assert_msg(uniform(&k[0], &cur) && uniform(&k[1], &prev), "torn read");
        /* One rotation apart (but for the first keys and the counter's wrap). */
        ck_assert(cur == (unsigned char)(prev + 1) || cur <= 3);
        changes += cur != last;
        last = cur;
        reads++;
    }
    *stop = 1;
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_ge(changes, 100);
    fprintf(stderr, "reads %d changes %d gave up %d\n", reads, changes, gave_up);
    ck_assert_int_lt(gave_up, reads / 100);
    tls_tickets_unmap();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transport_tls_tickets");
    TCase *tc = tcase_create("tickets");
    tcase_add_test(tc, key_file_80_bytes_is_name_hmac_aes);
    tcase_add_test(tc, key_file_48_bytes_is_name_aes_hmac);
    tcase_add_test(tc, key_file_of_another_size_is_refused);
    tcase_add_test(tc, sni_host_name_is_read);
    tcase_add_test(tc, sni_malformed_is_refused);
    tcase_add_test(tc, identity_is_the_names);
    tcase_add_test(tc, derived_keys_differ_by_server);
    tcase_add_test(tc, page_starts_with_two_random_keys);
    tcase_add_test(tc, rotation_when_due_and_only_then);
    tcase_add_test(tc, page_passes_on_to_a_new_master);
    tcase_add_test(tc, foreign_fd_makes_new_keys);
    tcase_add_test(tc, readers_never_see_half_a_rotation);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
