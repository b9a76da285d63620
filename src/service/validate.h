/* Validation of names and other text that reaches the database or the audit log from outside:
 * valid UTF-8 (no overlongs or surrogates), no control characters, bounded length. Defends
 * against log and terminal injection and against names two clients would display differently. */
#pragma once

#include "common/text.h"

#include <stdbool.h>
#include <stddef.h>
#include "common/error.h"

#define VALIDATE_NAME_MAX 100
#define VALIDATE_DESCRIPTION_MAX 1000
#define VALIDATE_USER_MAX 100

/* WHAT names the field in errors ("product name"). */
int validate_name(const char *s, const char *what, rp_error *err) RP_MUST_CHECK;
int validate_description(const char *s, const char *what, rp_error *err) RP_MUST_CHECK;
/* User names: 1..100 of [A-Za-z0-9._@+-], starting with a letter or digit. */
int validate_user(const char *s, rp_error *err) RP_MUST_CHECK;
/* 64 lowercase hex digits (device IDs, SHA-256 digests, key IDs). */
bool validate_hex64(const char *s);
