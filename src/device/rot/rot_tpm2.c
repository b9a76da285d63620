/* The TPM 2.0 root of trust through tpm2-tss ESAPI: a restricted ECDSA P-256 identity key that
 * is fixedTPM (its private part never leaves the TPM; what we store is a blob wrapped by the
 * TPM's storage key), PCR extend/read, TPM2_Quote, NV counters for the anti-rollback floor and
 * the TPM's RNG. The TPM is reached through a TCTI (a device node, or swtpm in tests). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "common/bytes.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/rot/rot.h"

/* NV indices in the owner range: one counter per rot counter, and one write-once index holding
 * each counter's value right after its first increment (the base the logical value counts from). */
#define TPM2_NV_COUNTER_BASE 0x01525000u
#define TPM2_NV_BASES 0x01525010u
#define TPM2_DEFAULT_TCTI "device:/dev/tpmrm0"
/* Rampart's storage root key, made persistent at provisioning (owner range): once the owner
 * authorization is set, the key can no longer be re-created from the owner seed at each start. */
#define TPM2_SRK_HANDLE 0x81525000u
/* The NV indices' authValue (random, made at provisioning), in the backend's state directory.
 * Without it, anyone who can reach the TPM could raise a counter above the installed versions and
 * so make the device refuse its own software. */
#define TPM2_NV_AUTH_FILE "nv-auth"
#define TPM2_NV_AUTH_LEN 32
#define TPM2_NV_AUTH_FIX                                                                                  \
	"restore it from a backup of this device's state; if it is lost, undefine Rampart's NV indices "      \
	"(0x01525000-0x01525003, 0x01525010) with the TPM owner authorization and run 'rampart-os provision' " \
	"again (the anti-rollback counters then restart from 0)"

struct tpm2 {
	char *dir;
	int lock_fd;
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR srk;
	bool srk_persistent; /* closed, not flushed */
	ESYS_TR key;
	TPM2B_PUBLIC pub;
	ESYS_TR nv[ROT_COUNTER_COUNT];
	uint64_t base[ROT_COUNTER_COUNT];
	/* Empty on a device provisioned before the indices had one (unprotected, logged at open). */
	TPM2B_AUTH nv_auth;
};

static struct tpm2 *tpm2_of(rot *r) { return rot_priv(r); }

static int tpm2_fail(rp_error *err, TSS2_RC rc, const char *what)
{
	return rp_error_set(err, RP_E_CRYPTO, "TPM: %s: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
}

static bool tpm2_rc_is(TSS2_RC rc, TSS2_RC want)
{
	return (rc & ~TSS2_RC_LAYER_MASK) == want || rc == want;
}

/* A wrong password for an object: TPM_RC_BAD_AUTH (noDA) or TPM_RC_AUTH_FAIL, whatever session
 * number the TPM put in the format-one response code. */
static bool tpm2_rc_is_bad_auth(TSS2_RC rc)
{
	if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER || !(rc & TPM2_RC_FMT1))
		return false;
	TSS2_RC base = rc & (TPM2_RC_FMT1 | 0x3f);
	return base == TPM2_RC_BAD_AUTH || base == TPM2_RC_AUTH_FAIL;
}

/* Transient objects that an earlier holder of the root of trust left loaded when it died without
 * closing it (a crash, SIGKILL). Through the kernel's resource manager they go with its file
 * descriptor; on a TPM reached directly (/dev/tpm0, swtpm) they stay until the TPM is reset and
 * fill its few object slots, so a restarted monitor could not load its keys until a reboot. None
 * is in use: a direct TPM connection has one client at a time and we hold the backend's lock.
 * Through a resource manager the list holds only this connection's objects: none yet. */
static int tpm2_flush_leftovers(struct tpm2 *t, rp_error *err)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TSS2_RC rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
	                                TPM2_TRANSIENT_FIRST, TPM2_MAX_CAP_HANDLES, NULL, &cap);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "listing the TPM's loaded objects");
	for (UINT32 i = 0; i < cap->data.handles.count; i++) {
		ESYS_TR obj = ESYS_TR_NONE;
		if ((cap->data.handles.handle[i] >> TPM2_HR_SHIFT) == TPM2_HT_TRANSIENT &&
		    Esys_TR_FromTPMPublic(t->esys, cap->data.handles.handle[i], ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
		                          &obj) == TSS2_RC_SUCCESS)
			Esys_FlushContext(t->esys, obj);
	}
	Esys_Free(cap);
	return 0;
}

/* The storage root key: the TCG-recommended ECC P-256 template. */
static const TPM2B_PUBLIC tpm2_srk_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
		                    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
		                    TPMA_OBJECT_NODA,
		.parameters.eccDetail = {
			.symmetric = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB},
			.scheme = {.scheme = TPM2_ALG_NULL},
			.curveID = TPM2_ECC_NIST_P256,
			.kdf = {.scheme = TPM2_ALG_NULL},
		},
	},
};

/* Whether the TPM's owner hierarchy has a non-empty authorization (TPMA_PERMANENT ownerAuthSet). */
static int tpm2_owner_auth_is_set(struct tpm2 *t, bool *set, rp_error *err)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TSS2_RC rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
	                                TPM2_PT_PERMANENT, 1, NULL, &cap);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "reading the TPM's permanent attributes");
	const TPML_TAGGED_TPM_PROPERTY *props = &cap->data.tpmProperties;
	bool found = props->count >= 1 && props->tpmProperty[0].property == TPM2_PT_PERMANENT;
	*set = found && (props->tpmProperty[0].value & TPMA_PERMANENT_OWNERAUTHSET);
	Esys_Free(cap);
	if (!found)
		return rp_error_set(err, RP_E_CRYPTO, "TPM: the permanent attributes are missing from its properties");
	return 0;
}

/* The SRK created from the owner seed: the same key every time for one template and seed. Needs
 * the owner authorization to be empty (provisioning, or a device provisioned before the SRK was
 * persistent). */
static int tpm2_create_srk(struct tpm2 *t, rp_error *err)
{
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION creation_pcr = {0};
	TSS2_RC rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
	                                &tpm2_srk_template, &outside, &creation_pcr, &t->srk, NULL, NULL, NULL, NULL);
	if (tpm2_rc_is_bad_auth(rc))
		return rp_error_set(err, RP_E_PERMISSION,
		                    "TPM: creating the storage root key needs the owner authorization, and it is set (by "
		                    "other software, or this TPM was provisioned for another state directory); provision "
		                    "on a TPM with an empty owner authorization (clear it in the firmware setup)");
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "creating the storage root key in the owner hierarchy");
	return 0;
}

/* The storage root key: the persistent one at TPM2_SRK_HANDLE when there is one (checked to be of
 * our template: a key of another kind there fails the identity's load anyway, but with a worse
 * message); otherwise re-created from the owner seed, and made persistent when provisioning. */
static int tpm2_open_srk(struct tpm2 *t, bool create, rp_error *err)
{
	ESYS_TR obj = ESYS_TR_NONE;
	if (Esys_TR_FromTPMPublic(t->esys, TPM2_SRK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &obj) ==
	    TSS2_RC_SUCCESS) {
		TPM2B_PUBLIC *pub = NULL;
		TSS2_RC rc = Esys_ReadPublic(t->esys, obj, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL, NULL);
		if (rc != TSS2_RC_SUCCESS) {
			Esys_TR_Close(t->esys, &obj);
			return tpm2_fail(err, rc, "reading the persistent storage root key");
		}
		const TPMT_PUBLIC *p = &pub->publicArea, *want = &tpm2_srk_template.publicArea;
		bool ours = p->type == want->type && p->nameAlg == want->nameAlg &&
		            p->objectAttributes == want->objectAttributes &&
		            p->parameters.eccDetail.curveID == want->parameters.eccDetail.curveID &&
		            p->parameters.eccDetail.symmetric.algorithm == want->parameters.eccDetail.symmetric.algorithm &&
		            p->parameters.eccDetail.symmetric.keyBits.aes == want->parameters.eccDetail.symmetric.keyBits.aes &&
		            p->parameters.eccDetail.symmetric.mode.aes == want->parameters.eccDetail.symmetric.mode.aes;
		Esys_Free(pub);
		if (!ours) {
			Esys_TR_Close(t->esys, &obj);
			return rp_error_set(err, RP_E_PERMISSION,
			                    "persistent handle 0x%08x holds a key that is not Rampart's storage root key; "
			                    "it was not made by Rampart (clear the TPM and provision again)", TPM2_SRK_HANDLE);
		}
		t->srk = obj;
		t->srk_persistent = true;
		return 0;
	}
	if (tpm2_create_srk(t, err) < 0)
		return -1;
	if (!create)
		return 0; /* provisioned by an older Rampart: re-created at each start, as it was then */
	ESYS_TR persistent = ESYS_TR_NONE;
	TSS2_RC rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
	                               TPM2_SRK_HANDLE, &persistent);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "making the storage root key persistent");
	Esys_FlushContext(t->esys, t->srk);
	t->srk = persistent;
	t->srk_persistent = true;
	return 0;
}

/* What makes the identity key an identity: generated inside the TPM, bound to it and its parent
 * (not duplicable), restricted (signs only TPM-made digests and quotes), ECDSA P-256 / SHA-256. */
#define TPM2_IDENTITY_ATTRS                                                                                            \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH | \
	 TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)

static int tpm2_check_identity_public(const TPM2B_PUBLIC *pub, rp_error *err)
{
	const TPMT_PUBLIC *p = &pub->publicArea;
	if (p->type != TPM2_ALG_ECC || p->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256)
		return rp_error_set(err, RP_E_INVALID, "identity key is not an ECC P-256 key");
	if ((p->objectAttributes & TPM2_IDENTITY_ATTRS) != TPM2_IDENTITY_ATTRS ||
	    (p->objectAttributes & TPMA_OBJECT_DECRYPT))
		return rp_error_set(err, RP_E_PERMISSION,
		                    "identity key attributes 0x%x are not those of a non-exportable restricted signing key",
		                    p->objectAttributes);
	if (p->parameters.eccDetail.scheme.scheme != TPM2_ALG_ECDSA ||
	    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg != TPM2_ALG_SHA256)
		return rp_error_set(err, RP_E_INVALID, "identity key scheme is not ECDSA with SHA-256");
	if (p->unique.ecc.x.size > 32 || p->unique.ecc.y.size > 32)
		return rp_error_set(err, RP_E_INVALID, "identity key point is not P-256 sized");
	return 0;
}

static int tpm2_write_blob(const char *path, const uint8_t *data, size_t len, mode_t mode, rp_error *err)
{
	return rp_write_file_atomic(path, data, len, mode, err);
}

static int tpm2_create_identity(struct tpm2 *t, const char *pub_path, const char *priv_path, rp_error *err)
{
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_PUBLIC tmpl = {
		.publicArea = {
			.type = TPM2_ALG_ECC,
			.nameAlg = TPM2_ALG_SHA256,
			/* noDA: its authValue is empty, so there is nothing to guess; with DA protection
			 * every power cut after a quote (no TPM2_Shutdown) counts as a failed try, and a
			 * few cuts lock the device out of attestation. Access is the monitor's policy. */
			.objectAttributes = TPM2_IDENTITY_ATTRS | TPMA_OBJECT_NODA,
			.parameters.eccDetail = {
				.symmetric = {.algorithm = TPM2_ALG_NULL},
				.scheme = {.scheme = TPM2_ALG_ECDSA, .details.ecdsa.hashAlg = TPM2_ALG_SHA256},
				.curveID = TPM2_ECC_NIST_P256,
				.kdf = {.scheme = TPM2_ALG_NULL},
			},
		},
	};
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION creation_pcr = {0};
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TSS2_RC rc = Esys_Create(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
	                         &creation_pcr, &priv, &pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "creating the identity key");
	uint8_t pub_buf[sizeof(TPM2B_PUBLIC)], priv_buf[sizeof(TPM2B_PRIVATE)];
	size_t pub_len = 0, priv_len = 0;
	int ret = -1;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, pub_buf, sizeof(pub_buf), &pub_len) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(priv, priv_buf, sizeof(priv_buf), &priv_len) != TSS2_RC_SUCCESS) {
		rp_error_set(err, RP_E_INTERNAL, "marshalling the identity key blobs");
		goto out;
	}
	/* Private blob first: a public blob without its private half would look provisioned. */
	if (tpm2_write_blob(priv_path, priv_buf, priv_len, 0600, err) < 0 ||
	    tpm2_write_blob(pub_path, pub_buf, pub_len, 0644, err) < 0)
		goto out;
	ret = 0;
out:
	Esys_Free(priv);
	Esys_Free(pub);
	return ret;
}

static int tpm2_load_identity(struct tpm2 *t, const char *pub_path, const char *priv_path, rp_error *err)
{
	_cleanup_free_ uint8_t *pub_data = NULL, *priv_data = NULL;
	size_t pub_len = 0, priv_len = 0, off = 0;
	if (rp_read_file(pub_path, sizeof(TPM2B_PUBLIC), &pub_data, &pub_len, err) < 0 ||
	    rp_read_file(priv_path, sizeof(TPM2B_PRIVATE), &priv_data, &priv_len, err) < 0)
		return -1;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub_data, pub_len, &off, &t->pub) != TSS2_RC_SUCCESS || off != pub_len)
		return rp_error_set(err, RP_E_INVALID, "%s is not a marshalled TPM2B_PUBLIC", pub_path);
	TPM2B_PRIVATE priv = {0};
	off = 0;
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(priv_data, priv_len, &off, &priv) != TSS2_RC_SUCCESS || off != priv_len)
		return rp_error_set(err, RP_E_INVALID, "%s is not a marshalled TPM2B_PRIVATE", priv_path);
	if (tpm2_check_identity_public(&t->pub, err) < 0)
		return rp_error_prefix(err, "%s", pub_path);
	TSS2_RC rc = Esys_Load(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &t->pub, &t->key);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc,
		                 "loading the identity key (was the TPM cleared, or is this another TPM? the identity "
		                 "is bound to the TPM that created it)");
	return 0;
}

static int tpm2_nv_define(struct tpm2 *t, TPM2_HANDLE index, TPMA_NV attrs, uint16_t size, ESYS_TR *out,
                          rp_error *err)
{
	TPM2B_NV_PUBLIC info = {
		.nvPublic = {.nvIndex = index, .nameAlg = TPM2_ALG_SHA256, .attributes = attrs, .dataSize = size},
	};
	TSS2_RC rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
	                                 &t->nv_auth, &info, out);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "defining an NV index");
	return 0;
}

/* Open an existing NV index and check it is what we defined: an index of another type at our
 * handle (say, an ordinary index someone could rewrite) would break the monotonic guarantee. */
static int tpm2_nv_open(struct tpm2 *t, TPM2_HANDLE index, TPM2_NT type, uint16_t size, ESYS_TR *out,
                        TPMA_NV *attrs, rp_error *err)
{
	TSS2_RC rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, out);
	if (rc != TSS2_RC_SUCCESS)
		return rp_error_set(err, RP_E_NOT_FOUND, "NV index 0x%08x is not defined", index);
	rc = Esys_TR_SetAuth(t->esys, *out, &t->nv_auth);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "setting an NV index's authorization value");
	TPM2B_NV_PUBLIC *pub = NULL;
	rc = Esys_NV_ReadPublic(t->esys, *out, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "reading an NV index's public area");
	TPM2_NT nt = (pub->nvPublic.attributes & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT;
	uint16_t got = pub->nvPublic.dataSize;
	if (attrs)
		*attrs = pub->nvPublic.attributes;
	Esys_Free(pub);
	if (nt != type || got != size)
		return rp_error_set(err, RP_E_PERMISSION, "NV index 0x%08x has type %u and size %u, expected %u and %u",
		                    index, nt, got, type, size);
	return 0;
}

static int tpm2_nv_read_u64(struct tpm2 *t, ESYS_TR nv, uint64_t *value, bool *initialized, rp_error *err)
{
	TPM2B_MAX_NV_BUFFER *data = NULL;
	TSS2_RC rc = Esys_NV_Read(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0, &data);
	if (tpm2_rc_is(rc, TPM2_RC_NV_UNINITIALIZED)) {
		*value = 0;
		*initialized = false;
		return 0;
	}
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "reading an NV counter");
	if (data->size != 8) {
		Esys_Free(data);
		return rp_error_set(err, RP_E_INVALID, "NV counter read returned %u bytes", data->size);
	}
	*value = rp_get_u64be(data->buffer);
	*initialized = true;
	Esys_Free(data);
	return 0;
}

static int tpm2_nv_increment(struct tpm2 *t, ESYS_TR nv, rp_error *err)
{
	TSS2_RC rc = Esys_NV_Increment(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "incrementing an NV counter");
	return 0;
}

#define TPM2_COUNTER_ATTRS                                                                                             \
	((TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA)
#define TPM2_BASES_ATTRS                                                                                               \
	((TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA |          \
	 TPMA_NV_WRITEDEFINE)

/* The counter bases (u64 big-endian each) from the NV index BASES into t->base. */
static int tpm2_read_bases(struct tpm2 *t, ESYS_TR bases, const char *what, rp_error *err)
{
	TPM2B_MAX_NV_BUFFER *data = NULL;
	TSS2_RC rc = Esys_NV_Read(t->esys, bases, bases, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
	                          ROT_COUNTER_COUNT * 8, 0, &data);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, what);
	int ok = data->size == ROT_COUNTER_COUNT * 8;
	for (unsigned i = 0; ok && i < ROT_COUNTER_COUNT; i++)
		t->base[i] = rp_get_u64be(data->buffer + 8 * i);
	Esys_Free(data);
	if (!ok)
		return rp_error_set(err, RP_E_INVALID, "%s: the TPM returned a short read", what);
	return 0;
}

/* Read the NV authValue file: no symlink, ours, 0600, exactly TPM2_NV_AUTH_LEN bytes. A missing
 * file is RP_E_NOT_FOUND for the caller to judge; anything else is fatal, since guessing (say,
 * trying the empty value) would undo the protection for whoever removed or damaged the file. */
static int tpm2_nv_auth_read(struct tpm2 *t, const char *path, rp_error *err)
{
	_cleanup_close_ int dirfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return rp_error_set_errno(err, errno, "opening %s", t->dir);
	uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file_at(dirfd, TPM2_NV_AUTH_FILE, TPM2_NV_AUTH_LEN, true, &data, &len, err) < 0) {
		if (err->code == RP_E_NOT_FOUND)
			return -1;
		if (err->sys_errno == ELOOP)
			return rp_error_set(err, RP_E_PERMISSION,
			                    "%s is a symbolic link; replace it with this device's own file (mode 0600)", path);
		if (err->code == RP_E_LIMIT)
			return rp_error_set(err, RP_E_INVALID, "%s is longer than %d bytes; %s", path, TPM2_NV_AUTH_LEN,
			                    TPM2_NV_AUTH_FIX);
		return rp_error_prefix(err, "%s", path);
	}
	int rc = 0;
	if (len != TPM2_NV_AUTH_LEN)
		rc = rp_error_set(err, RP_E_INVALID, "%s holds %zu bytes, not %d; %s", path, len, TPM2_NV_AUTH_LEN,
		                  TPM2_NV_AUTH_FIX);
	else {
		t->nv_auth.size = TPM2_NV_AUTH_LEN;
		memcpy(t->nv_auth.buffer, data, TPM2_NV_AUTH_LEN);
	}
	explicit_bzero(data, len);
	free(data);
	return rc;
}

/* How the counters are authorized. With the file: its value. Without it: a new value when no
 * counter exists yet and this is provisioning; the empty value when the counters already exist
 * and accept it (a device provisioned before the indices had an authValue); otherwise refuse. */
static int tpm2_nv_auth_setup(struct tpm2 *t, bool create, rp_error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", t->dir, TPM2_NV_AUTH_FILE);
	if (tpm2_nv_auth_read(t, path, err) == 0)
		return 0;
	if (err->code != RP_E_NOT_FOUND)
		return rp_error_prefix(err, "the anti-rollback counters' authorization value");
	rp_error_clear(err);
	ESYS_TR first = ESYS_TR_NONE;
	rp_error probe = RP_ERROR_INIT;
	if (tpm2_nv_open(t, TPM2_NV_COUNTER_BASE, TPM2_NT_COUNTER, 8, &first, NULL, &probe) == 0) {
		TPM2B_MAX_NV_BUFFER *data = NULL;
		TSS2_RC rc = Esys_NV_Read(t->esys, first, first, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0, &data);
		Esys_Free(data);
		Esys_TR_Close(t->esys, &first);
		if (tpm2_rc_is_bad_auth(rc))
			return rp_error_set(err, RP_E_NOT_FOUND,
			                    "the anti-rollback counters have an authorization value, but %s, which holds it, "
			                    "is missing: %s", path, TPM2_NV_AUTH_FIX);
		if (rc != TSS2_RC_SUCCESS && !tpm2_rc_is(rc, TPM2_RC_NV_UNINITIALIZED))
			return tpm2_fail(err, rc, "reading anti-rollback counter 0");
		rp_log_event(RP_LOG_WARNING, "rot.tpm2.counters_unprotected",
		             "the TPM's anti-rollback counters have an empty authorization value (this device was "
		             "provisioned by an older Rampart): any process that can reach the TPM can raise them and make "
		             "the device refuse its installed software. They stay unprotected until Rampart's NV indices "
		             "are undefined (TPM owner authorization, or a TPM clear) and the device is provisioned again "
		             "(see docs/threat-model.md)");
		return 0;
	}
	if (probe.code != RP_E_NOT_FOUND || !create) {
		*err = probe;
		return rp_error_prefix(err, "anti-rollback counter 0");
	}
	/* Written before any index is defined with it: a crash in between leaves a file and no
	 * index, which the next provisioning completes, never an index whose value is lost. */
	uint8_t fresh[TPM2_NV_AUTH_LEN];
	if (rp_random_bytes(fresh, sizeof(fresh), err) < 0)
		return -1;
	/* The TPM drops trailing zero bytes of an authValue; a non-zero last byte keeps all 32. */
	fresh[TPM2_NV_AUTH_LEN - 1] |= 1;
	int rc = rp_write_file_atomic(path, fresh, sizeof(fresh), 0600, err);
	if (rc == 0) {
		t->nv_auth.size = TPM2_NV_AUTH_LEN;
		memcpy(t->nv_auth.buffer, fresh, TPM2_NV_AUTH_LEN);
	}
	explicit_bzero(fresh, sizeof(fresh));
	return rc < 0 ? rp_error_prefix(err, "creating the NV authorization value") : 0;
}

/* The TPM accepts our authValue for NV index ESYS (opened as INDEX): otherwise the file belongs
 * to other indices (another device's state, or the TPM was reprovisioned without it). */
static int tpm2_nv_check_auth(struct tpm2 *t, ESYS_TR nv, TPM2_HANDLE index, uint16_t size, rp_error *err)
{
	TPM2B_MAX_NV_BUFFER *data = NULL;
	TSS2_RC rc = Esys_NV_Read(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, size, 0, &data);
	Esys_Free(data);
	if (tpm2_rc_is_bad_auth(rc))
		return rp_error_set(err, RP_E_PERMISSION,
		                    "the TPM refuses the authorization value in %s/%s for NV index 0x%08x: the file does not "
		                    "belong to this TPM's counters (copied from another device's state?); restore this "
		                    "device's own file", t->dir, TPM2_NV_AUTH_FILE, index);
	if (rc != TSS2_RC_SUCCESS && !tpm2_rc_is(rc, TPM2_RC_NV_UNINITIALIZED))
		return tpm2_fail(err, rc, "reading an NV index");
	return 0;
}

/* Counters: a TPM counter starts, on first increment, at the largest value any counter in this
 * TPM ever held. So each is incremented once at provisioning and that value is written to a
 * write-once index (locked with TPMA_NV_WRITEDEFINE): the logical value is hw - base, and no
 * software, not even this process, can rewrite the bases afterwards. */
static int tpm2_open_counters(struct tpm2 *t, bool create, rp_error *err)
{
	if (tpm2_nv_auth_setup(t, create, err) < 0)
		return -1;
	for (unsigned i = 0; i < ROT_COUNTER_COUNT; i++) {
		rp_error tmp = RP_ERROR_INIT;
		if (tpm2_nv_open(t, TPM2_NV_COUNTER_BASE + i, TPM2_NT_COUNTER, 8, &t->nv[i], NULL, &tmp) == 0) {
			if (tpm2_nv_check_auth(t, t->nv[i], TPM2_NV_COUNTER_BASE + i, 8, err) < 0)
				return rp_error_prefix(err, "anti-rollback counter %u", i);
			continue;
		}
		if (!create || tmp.code != RP_E_NOT_FOUND) {
			*err = tmp;
			return rp_error_prefix(err, "anti-rollback counter %u", i);
		}
		if (tpm2_nv_define(t, TPM2_NV_COUNTER_BASE + i, TPM2_COUNTER_ATTRS, 8, &t->nv[i], err) < 0)
			return rp_error_prefix(err, "defining anti-rollback counter %u", i);
	}
	ESYS_TR bases = ESYS_TR_NONE;
	rp_error tmp = RP_ERROR_INIT;
	uint16_t bases_size = ROT_COUNTER_COUNT * 8;
	TPMA_NV attrs = 0;
	bool defined = tpm2_nv_open(t, TPM2_NV_BASES, TPM2_NT_ORDINARY, bases_size, &bases, &attrs, &tmp) == 0;
	if (!defined && (!create || tmp.code != RP_E_NOT_FOUND)) {
		*err = tmp;
		return rp_error_prefix(err, "counter bases (run 'rampart-os provision' to finish provisioning)");
	}
	/* A lock that lasts: with WRITEDEFINE it holds until the index is undefined (a WRITE_STCLEAR
	 * lock would end at the next TPM reset). */
	if (defined && !(attrs & TPMA_NV_WRITEDEFINE))
		return rp_error_set(err, RP_E_PERMISSION,
		                    "NV index 0x%08x (counter bases) has attributes 0x%x without WRITEDEFINE; it was not "
		                    "defined by Rampart", TPM2_NV_BASES, attrs);
	/* An index someone else defined in provisioning's window (before the lock) fails here. */
	if (defined && tpm2_nv_check_auth(t, bases, TPM2_NV_BASES, bases_size, err) < 0)
		return rp_error_prefix(err, "counter bases");
	/* Only a write-locked index protects the bases: until the lock, whoever holds its authValue
	 * (anyone who can reach the TPM, on a device with an empty one) may rewrite them and so set
	 * every counter back to 0. An index left
	 * unlocked (provisioning stopped between define, write and lock) is finished by provisioning
	 * and refused by everything else. */
	if (defined && (attrs & TPMA_NV_WRITELOCKED)) {
		return tpm2_read_bases(t, bases, "reading the counter bases", err);
	}
	if (!create)
		return rp_error_set(err, RP_E_PERMISSION,
		                    "the counter bases index (NV 0x%08x) is not write-locked: provisioning did not finish, "
		                    "and anyone who can reach the TPM could roll the counters back; run 'rampart-os "
		                    "provision' again", TPM2_NV_BASES);
	TPM2B_MAX_NV_BUFFER buf = {.size = bases_size};
	uint64_t hw[ROT_COUNTER_COUNT];
	for (unsigned i = 0; i < ROT_COUNTER_COUNT; i++) {
		bool init = false;
		if (tpm2_nv_read_u64(t, t->nv[i], &hw[i], &init, err) < 0)
			return -1;
		if (!init &&
		    (tpm2_nv_increment(t, t->nv[i], err) < 0 || tpm2_nv_read_u64(t, t->nv[i], &hw[i], &init, err) < 0))
			return -1;
		t->base[i] = hw[i];
	}
	if (defined && (attrs & TPMA_NV_WRITTEN)) {
		/* Written but never locked: keep what was written (the counters may have moved since),
		 * as long as every base is one the counter has already passed. */
		if (tpm2_read_bases(t, bases, "reading the unlocked counter bases", err) < 0)
			return -1;
		for (unsigned i = 0; i < ROT_COUNTER_COUNT; i++)
			if (t->base[i] > hw[i])
				return rp_error_set(err, RP_E_CONFLICT,
				                    "the unlocked counter bases index (NV 0x%08x) gives counter %u a base %llu "
				                    "above its TPM value %llu; it was not written by Rampart: undefine the "
				                    "index with the owner authorization and provision again",
				                    TPM2_NV_BASES, i, (unsigned long long)t->base[i], (unsigned long long)hw[i]);
	}
	for (unsigned i = 0; i < ROT_COUNTER_COUNT; i++)
		rp_put_u64be(buf.buffer + 8 * i, t->base[i]);
	if (!defined && tpm2_nv_define(t, TPM2_NV_BASES, TPM2_BASES_ATTRS, bases_size, &bases, err) < 0)
		return rp_error_prefix(err, "defining the counter bases");
	TSS2_RC rc = Esys_NV_Write(t->esys, bases, bases, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &buf, 0);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "writing the counter bases");
	rc = Esys_NV_WriteLock(t->esys, bases, bases, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "locking the counter bases");
	return 0;
}

/* The owner authorization, last step of provisioning. Empty, it lets any process that can reach
 * the TPM undefine the write-locked counter bases index; whoever also holds the counters'
 * authValue (root, or the monitor's user) could then define it again with higher bases and so
 * roll the anti-rollback counters back. So provisioning sets a random one and keeps it nowhere:
 * the owner hierarchy is then closed for good, short of a TPM clear (which also destroys the
 * identity, so the device must be registered again). KEEP_OWNER_AUTH leaves it empty, for
 * devices whose other software needs the owner hierarchy, and says what that costs. */
static int tpm2_owner_settle(struct tpm2 *t, const rot_config *cfg, rp_error *err)
{
	bool set = false;
	if (tpm2_owner_auth_is_set(t, &set, err) < 0)
		return -1;
	if (set)
		return 0;
	/* Counters from before their authValue can only get one by being undefined and defined
	 * again, which takes the owner authorization: locking it now would leave them unprotected for
	 * good. Left open (and warned about, below and in tpm2_nv_auth_setup) until then. */
	bool legacy_counters = t->nv_auth.size == 0;
	if (!cfg->create || cfg->keep_owner_auth || legacy_counters) {
		rp_log_event(RP_LOG_WARNING, "rot.tpm2.owner_unlocked",
		             "the TPM's owner authorization is empty: any process that can reach the TPM can undefine "
		             "Rampart's counter bases index, and with the counters' authorization value (%s/%s) define it "
		             "again with higher bases, rolling the anti-rollback counters back. %s",
		             t->dir, TPM2_NV_AUTH_FILE,
		             cfg->keep_owner_auth ? "It was left empty on request (--tpm2-owner keep)."
		             : legacy_counters
		                 ? "It is left empty while the counters have no authorization value: undefine Rampart's "
		                   "NV indices with it, then run 'rampart-os provision' again, which sets both."
		                 : "Run 'rampart-os provision' again to set it (docs/threat-model.md).");
		return 0;
	}
	TPM2B_AUTH fresh = {.size = TPM2_NV_AUTH_LEN};
	if (rp_random_bytes(fresh.buffer, TPM2_NV_AUTH_LEN, err) < 0)
		return -1;
	/* The TPM drops trailing zero bytes of an authValue; a non-zero last byte keeps all 32. */
	fresh.buffer[TPM2_NV_AUTH_LEN - 1] |= 1;
	/* Sent encrypted: an HMAC session salted to the SRK (ECDH) with the decrypt attribute
	 * encrypts the new value's parameter, so a sniffer on the TPM bus learns nothing. */
	const TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
	ESYS_TR session = ESYS_TR_NONE;
	TSS2_RC rc = Esys_StartAuthSession(t->esys, t->srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
	                                   TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &session);
	if (rc != TSS2_RC_SUCCESS) {
		explicit_bzero(&fresh, sizeof(fresh));
		return tpm2_fail(err, rc, "starting an encrypted session to set the TPM's owner authorization");
	}
	/* Continued, so that it is still there to flush whatever the command did. */
	rc = Esys_TRSess_SetAttributes(t->esys, session, TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION,
	                               TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_HierarchyChangeAuth(t->esys, ESYS_TR_RH_OWNER, session, ESYS_TR_NONE, ESYS_TR_NONE, &fresh);
	explicit_bzero(&fresh, sizeof(fresh));
	Esys_FlushContext(t->esys, session);
	/* ESAPI remembers the new value for the handle: forget it too. */
	TPM2B_AUTH empty = {0};
	Esys_TR_SetAuth(t->esys, ESYS_TR_RH_OWNER, &empty);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "setting the TPM's owner authorization");
	rp_log_event(RP_LOG_NOTICE, "rot.tpm2.owner_locked",
	             "set the TPM's owner authorization to a random value that is kept nowhere: Rampart's NV indices "
	             "and storage root key can no longer be undefined or evicted, short of a TPM clear");
	return 0;
}

static int tpm2_open(rot *r, const char *state_dir, const rot_config *cfg, bool *created, rp_error *err)
{
	struct tpm2 *t = tpm2_of(r);
	t->lock_fd = -1;
	t->srk = t->key = ESYS_TR_NONE;
	t->dir = xasprintf("%s/rot-tpm2", state_dir);
	if (cfg->create && rp_mkdir_p(t->dir, 0700, err) < 0)
		return -1;
	struct stat st;
	if (stat(t->dir, &st) < 0)
		return rp_error_set(err, RP_E_NOT_FOUND,
		                    "this device is not provisioned (%s does not exist); run 'rampart-os provision "
		                    "--state %s --rot tpm2' first", t->dir, state_dir);
	t->lock_fd = rot_lock_dir(t->dir, err);
	if (t->lock_fd < 0)
		return -1;
	/* tpm2-tss logs expected refusals (an undefined NV index while provisioning) as errors on
	 * stderr; we report failures ourselves, with context. TSS2_LOG set by the user still wins. */
	setenv("TSS2_LOG", "all+none", 0);
	const char *tcti = cfg->tcti ? cfg->tcti : TPM2_DEFAULT_TCTI;
	TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
	if (rc != TSS2_RC_SUCCESS)
		return rp_error_set(err, RP_E_UNAVAILABLE, "cannot reach the TPM through TCTI '%s': %s", tcti,
		                    Tss2_RC_Decode(rc));
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "initialising ESAPI");
	rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
	if (rc != TSS2_RC_SUCCESS && !tpm2_rc_is(rc, TPM2_RC_INITIALIZE))
		return tpm2_fail(err, rc, "TPM2_Startup");
	if (tpm2_flush_leftovers(t, err) < 0 || tpm2_open_srk(t, cfg->create, err) < 0)
		return -1;
	_cleanup_free_ char *pub_path = xasprintf("%s/identity.pub", t->dir);
	_cleanup_free_ char *priv_path = xasprintf("%s/identity.priv", t->dir);
	if (access(pub_path, F_OK) != 0) {
		if (!cfg->create)
			return rp_error_set(err, RP_E_NOT_FOUND,
			                    "this device is not provisioned (no %s); run 'rampart-os provision --state %s "
			                    "--rot tpm2' first", pub_path, state_dir);
		if (tpm2_create_identity(t, pub_path, priv_path, err) < 0)
			return -1;
		*created = true;
	}
	if (tpm2_load_identity(t, pub_path, priv_path, err) < 0 || tpm2_open_counters(t, cfg->create, err) < 0)
		return -1;
	return tpm2_owner_settle(t, cfg, err);
}

static void tpm2_close(rot *r)
{
	struct tpm2 *t = tpm2_of(r);
	if (t->esys) {
		if (t->key != ESYS_TR_NONE)
			Esys_FlushContext(t->esys, t->key);
		if (t->srk != ESYS_TR_NONE && t->srk_persistent)
			Esys_TR_Close(t->esys, &t->srk);
		else if (t->srk != ESYS_TR_NONE)
			Esys_FlushContext(t->esys, t->srk);
		Esys_Finalize(&t->esys);
	}
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t->dir);
	if (t->lock_fd >= 0)
		close(t->lock_fd);
}

static EVP_PKEY *tpm2_identity_public_key(rot *r, rp_error *err)
{
	/* SubjectPublicKeyInfo prefix for an uncompressed P-256 point. */
	static const uint8_t prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	                                 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
	const TPMS_ECC_POINT *pt = &tpm2_of(r)->pub.publicArea.unique.ecc;
	uint8_t der[sizeof(prefix) + 65] = {0};
	memcpy(der, prefix, sizeof(prefix));
	der[sizeof(prefix)] = 0x04;
	memcpy(der + sizeof(prefix) + 1 + (32 - pt->x.size), pt->x.buffer, pt->x.size);
	memcpy(der + sizeof(prefix) + 33 + (32 - pt->y.size), pt->y.buffer, pt->y.size);
	return rp_key_from_public_der(der, sizeof(der), err);
}

static int tpm2_sig_to_der(const TPMT_SIGNATURE *s, uint8_t sig[RP_ECDSA_SIG_MAX], size_t *sig_len, rp_error *err)
{
	if (s->sigAlg != TPM2_ALG_ECDSA)
		return rp_error_set(err, RP_E_CRYPTO, "TPM returned a signature of algorithm 0x%x, not ECDSA", s->sigAlg);
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(s->signature.ecdsa.signatureR.buffer, s->signature.ecdsa.signatureR.size, NULL);
	BIGNUM *bs = BN_bin2bn(s->signature.ecdsa.signatureS.buffer, s->signature.ecdsa.signatureS.size, NULL);
	if (!es || !br || !bs || ECDSA_SIG_set0(es, br, bs) != 1) {
		ECDSA_SIG_free(es);
		BN_free(br);
		BN_free(bs);
		return rp_error_set_openssl(err, "converting the TPM signature");
	}
	int len = i2d_ECDSA_SIG(es, NULL);
	if (len <= 0 || len > RP_ECDSA_SIG_MAX) {
		ECDSA_SIG_free(es);
		return rp_error_set(err, RP_E_CRYPTO, "TPM signature does not fit a P-256 DER signature");
	}
	uint8_t *p = sig;
	i2d_ECDSA_SIG(es, &p);
	*sig_len = (size_t)len;
	ECDSA_SIG_free(es);
	return 0;
}

static int tpm2_pcr_extend(rot *r, unsigned index, const uint8_t digest[RP_SHA256_LEN], rp_error *err)
{
	TPML_DIGEST_VALUES values = {.count = 1, .digests = {{.hashAlg = TPM2_ALG_SHA256}}};
	memcpy(values.digests[0].digest.sha256, digest, RP_SHA256_LEN);
	TSS2_RC rc = Esys_PCR_Extend(tpm2_of(r)->esys, ESYS_TR_PCR0 + index, ESYS_TR_PASSWORD, ESYS_TR_NONE,
	                             ESYS_TR_NONE, &values);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "extending a PCR");
	return 0;
}

static int tpm2_pcr_read(rot *r, uint32_t mask, uint8_t values[ROT_PCR_COUNT][RP_SHA256_LEN], rp_error *err)
{
	struct tpm2 *t = tpm2_of(r);
	uint32_t want = mask;
	/* A TPM returns at most 8 digests per call; loop, bounded by the PCR count. */
	for (int round = 0; want && round < ROT_PCR_COUNT; round++) {
		TPML_PCR_SELECTION sel = {.count = 1, .pcrSelections = {{.hash = TPM2_ALG_SHA256, .sizeofSelect = 3}}};
		for (int b = 0; b < 3; b++)
			sel.pcrSelections[0].pcrSelect[b] = (uint8_t)(want >> (8 * b));
		TPML_PCR_SELECTION *out_sel = NULL;
		TPML_DIGEST *digests = NULL;
		TSS2_RC rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, NULL, &out_sel, &digests);
		if (rc != TSS2_RC_SUCCESS)
			return tpm2_fail(err, rc, "reading PCRs");
		uint32_t got = 0;
		if (out_sel->count == 1 && out_sel->pcrSelections[0].hash == TPM2_ALG_SHA256)
			for (int b = 0; b < 3 && b < out_sel->pcrSelections[0].sizeofSelect; b++)
				got |= (uint32_t)out_sel->pcrSelections[0].pcrSelect[b] << (8 * b);
		got &= want;
		unsigned k = 0;
		for (unsigned i = 0; i < ROT_PCR_COUNT && k < digests->count; i++)
			if (got & (1u << i)) {
				if (digests->digests[k].size != RP_SHA256_LEN)
					break;
				memcpy(values[i], digests->digests[k].buffer, RP_SHA256_LEN);
				k++;
			}
		bool ok = got && k == (unsigned)__builtin_popcount(got);
		Esys_Free(out_sel);
		Esys_Free(digests);
		if (!ok)
			return rp_error_set(err, RP_E_CRYPTO, "TPM returned no usable SHA-256 PCR values");
		want &= ~got;
	}
	return 0;
}

static int tpm2_quote(rot *r, const uint8_t nonce[ROT_NONCE_LEN], uint32_t mask, rot_quote *out, rp_error *err)
{
	struct tpm2 *t = tpm2_of(r);
	TPM2B_DATA qualifying = {.size = ROT_NONCE_LEN};
	memcpy(qualifying.buffer, nonce, ROT_NONCE_LEN);
	TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
	TPML_PCR_SELECTION sel = {.count = 1, .pcrSelections = {{.hash = TPM2_ALG_SHA256, .sizeofSelect = 3}}};
	for (int b = 0; b < 3; b++)
		sel.pcrSelections[0].pcrSelect[b] = (uint8_t)(mask >> (8 * b));
	TPM2B_ATTEST *attest = NULL;
	TPMT_SIGNATURE *signature = NULL;
	TSS2_RC rc = Esys_Quote(t->esys, t->key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qualifying, &scheme, &sel,
	                        &attest, &signature);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_fail(err, rc, "TPM2_Quote");
	int ret = -1;
	if (attest->size > sizeof(out->attest)) {
		rp_error_set(err, RP_E_CRYPTO, "TPM quote of %u bytes is too large", attest->size);
		goto out;
	}
	memcpy(out->attest, attest->attestationData, attest->size);
	out->attest_len = attest->size;
	ret = tpm2_sig_to_der(signature, out->sig, &out->sig_len, err);
out:
	Esys_Free(attest);
	Esys_Free(signature);
	return ret;
}

static int tpm2_counter_read(rot *r, unsigned index, uint64_t *value, rp_error *err)
{
	struct tpm2 *t = tpm2_of(r);
	bool init = false;
	uint64_t hw = 0;
	if (tpm2_nv_read_u64(t, t->nv[index], &hw, &init, err) < 0)
		return -1;
	if (!init || hw < t->base[index])
		return rp_error_set(err, RP_E_INVALID, "NV counter %u is below its recorded base: the TPM's NV was "
		                                       "changed outside Rampart", index);
	*value = hw - t->base[index];
	return 0;
}

static int tpm2_counter_advance_to(rot *r, unsigned index, uint64_t value, rp_error *err)
{
	struct tpm2 *t = tpm2_of(r);
	uint64_t current = 0;
	for (int step = 0; step <= ROT_COUNTER_MAX_STEP; step++) {
		if (tpm2_counter_read(r, index, &current, err) < 0)
			return -1;
		if (current >= value)
			return 0;
		if (tpm2_nv_increment(t, t->nv[index], err) < 0)
			return -1;
	}
	return rp_error_set(err, RP_E_LIMIT, "counter %u did not reach %llu", index, (unsigned long long)value);
}

static int tpm2_random(rot *r, void *buf, size_t len, rp_error *err)
{
	uint8_t *p = buf;
	while (len > 0) {
		TPM2B_DIGEST *rnd = NULL;
		uint16_t want = (uint16_t)(len > 32 ? 32 : len);
		TSS2_RC rc = Esys_GetRandom(tpm2_of(r)->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, want, &rnd);
		if (rc != TSS2_RC_SUCCESS)
			return tpm2_fail(err, rc, "TPM2_GetRandom");
		size_t got = rnd->size < want ? rnd->size : want;
		memcpy(p, rnd->buffer, got);
		Esys_Free(rnd);
		if (got == 0)
			return rp_error_set(err, RP_E_CRYPTO, "TPM2_GetRandom returned no bytes");
		p += got;
		len -= got;
	}
	return 0;
}

const struct rot_ops rot_tpm2_ops = {
	.backend_name = "tpm2",
	.insecure = false,
	.priv_size = sizeof(struct tpm2),
	.open = tpm2_open,
	.close = tpm2_close,
	.identity_public_key = tpm2_identity_public_key,
	.pcr_extend = tpm2_pcr_extend,
	.pcr_read = tpm2_pcr_read,
	.quote = tpm2_quote,
	.counter_read = tpm2_counter_read,
	.counter_advance_to = tpm2_counter_advance_to,
	.random = tpm2_random,
};
