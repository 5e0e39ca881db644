/* gzip for --gzip, through libarchive's gzip filter over its raw format
 * (the toolkit links libarchive, not zlib). */
#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "sink_impl.h"

static la_ssize_t put(struct archive *a, void *arg, const void *p, size_t n)
{
	(void)a;
	buf_add(arg, p, n);
	return (la_ssize_t)n;
}

int gzip_buf(const char *p, size_t n, struct buf *out)
{
	buf_reset(out);
	struct archive *a = archive_write_new();
	if (!a)
		return -1;
	int ok = archive_write_add_filter_gzip(a) == ARCHIVE_OK &&
		 archive_write_set_format_raw(a) == ARCHIVE_OK &&
		 archive_write_set_bytes_per_block(a, 0) == ARCHIVE_OK &&
		 archive_write_open(a, out, NULL, put, NULL) == ARCHIVE_OK;
	if (ok) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, (la_int64_t)n);
		ok = archive_write_header(a, e) == ARCHIVE_OK &&
		     (n == 0 || archive_write_data(a, p, n) == (la_ssize_t)n);
		archive_entry_free(e);
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		ok = 0;
	archive_write_free(a);
	return ok ? 0 : -1;
}
