/* The broker's grants, copied from a manifest validated by src/pkg/manifest.c (see
 * broker_policy.h). Using the installer's parser means an entry cannot mean one thing at install
 * time (ownership checks) and another to the broker. */
#include "device/broker/broker_policy.h"

#include <string.h>

#include "common/fileio.h"
#include "common/xalloc.h"

void broker_policy_free(struct broker_policy *p)
{
	if (!p)
		return;
	for (int t = 0; t < BOARD_TYPE_COUNT; t++) {
		for (size_t i = 0; i < p->periph_count[t]; i++)
			free(p->periph[t][i]);
		free(p->periph[t]);
	}
	for (size_t i = 0; i < p->app_connection_count; i++)
		free(p->app_connections[i]);
	free(p->app_connections);
	for (size_t i = 0; i < p->allowed_connection_count; i++)
		free(p->allowed_connections[i]);
	free(p->allowed_connections);
	free(p->tcp_server_ports);
	free(p->udp_server_ports);
	free(p);
}

static void copy_list(char **const src, size_t n, char ***out, size_t *count)
{
	*out = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		(*out)[i] = xstrdup(src[i]);
	*count = n;
}

struct broker_policy *broker_policy_from_manifest(const struct manifest *m)
{
	const struct manifest_capabilities *c = &m->caps;
	struct broker_policy *p = xcalloc(1, sizeof(*p));

	snprintf(p->app_name, sizeof(p->app_name), "%s", m->name);
	snprintf(p->component_id, sizeof(p->component_id), "%s", m->component_id);
	copy_list(c->allowed_connections, c->allowed_connections_count, &p->allowed_connections,
	          &p->allowed_connection_count);
	p->tcp_server_ports = xcalloc(c->allowed_tcp_server_ports_count + 1, sizeof(uint16_t));
	if (c->allowed_tcp_server_ports_count)
		memcpy(p->tcp_server_ports, c->allowed_tcp_server_ports, c->allowed_tcp_server_ports_count * sizeof(uint16_t));
	p->tcp_server_port_count = c->allowed_tcp_server_ports_count;
	p->udp_server_ports = xcalloc(c->allowed_udp_server_ports_count + 1, sizeof(uint16_t));
	if (c->allowed_udp_server_ports_count)
		memcpy(p->udp_server_ports, c->allowed_udp_server_ports, c->allowed_udp_server_ports_count * sizeof(uint16_t));
	p->udp_server_port_count = c->allowed_udp_server_ports_count;
	copy_list(c->gpio, c->gpio_count, &p->periph[BOARD_GPIO], &p->periph_count[BOARD_GPIO]);
	copy_list(c->uart, c->uart_count, &p->periph[BOARD_UART], &p->periph_count[BOARD_UART]);
	copy_list(c->i2c_master, c->i2c_master_count, &p->periph[BOARD_I2C], &p->periph_count[BOARD_I2C]);
	copy_list(c->spi_master, c->spi_master_count, &p->periph[BOARD_SPI], &p->periph_count[BOARD_SPI]);
	copy_list(c->adc, c->adc_count, &p->periph[BOARD_ADC], &p->periph_count[BOARD_ADC]);
	copy_list(c->pwm, c->pwm_count, &p->periph[BOARD_PWM], &p->periph_count[BOARD_PWM]);
	copy_list(c->allowed_application_connections, c->allowed_application_connections_count, &p->app_connections,
	          &p->app_connection_count);
	p->system_event_notifications = c->system_event_notifications;
	p->software_update_deferral = c->software_update_deferral;
	if (c->power_controls & MANIFEST_POWER_FORCE_REBOOT)
		p->power_controls |= BROKER_POWER_FORCE_REBOOT;
	if (c->power_controls & MANIFEST_POWER_FORCE_POWER_DOWN)
		p->power_controls |= BROKER_POWER_FORCE_POWER_DOWN;
	if (c->power_controls & MANIFEST_POWER_SET_POWER_PROFILE)
		p->power_controls |= BROKER_POWER_SET_POWER_PROFILE;
	p->device_auth = c->device_auth_tenant[0] != '\0';
	p->system_time = c->system_time;
	p->time_sync_config = c->time_sync_config;
	return p;
}

struct broker_policy *broker_policy_from_manifest_json(const char *json, size_t len, const char *what, rp_error *err)
{
	_cleanup_manifest_ struct manifest *m = manifest_parse(json, len, err);
	if (!m) {
		rp_error_prefix(err, "%s", what);
		return NULL;
	}
	return broker_policy_from_manifest(m);
}

struct broker_policy *broker_policy_load(const char *path, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, MANIFEST_MAX_BYTES, &data, &len, err) < 0)
		return NULL;
	return broker_policy_from_manifest_json((const char *)data, len, path, err);
}
