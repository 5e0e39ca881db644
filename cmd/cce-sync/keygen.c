/* keygen: an Ed25519 key pair for pack --sign and unpack --verify */
#include "sync.h"

#include "diag.h"
#include "sign.h"

int cmd_keygen(const char *keyfile)
{
	char err[512];
	if (sign_keygen(keyfile, err, sizeof err) < 0) {
		diag_error("%s", err);
		return CCE_EX_IOERR;
	}
	return 0;
}
