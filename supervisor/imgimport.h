/* imgimport.h - POST /v1/images: stream the request body into an sbx-import
 * process (supervisor/import/) and answer with the stored image.
 *
 * sbxd relays the body with backpressure (reading from the client pauses
 * while the importer is behind, so memory stays bounded whatever the image
 * size) and never parses the archive itself. A client that goes away, or an
 * importer that fails, leaves nothing in the store: the importer works in
 * STORE/tmp/<id>, which sbxd removes whatever happened. */
#ifndef SBX_IMGIMPORT_H
#define SBX_IMGIMPORT_H

#include "server.h"

/* From api_head for POST /v1/images: 1 = the body is streamed to the import,
 * -1 = refused (the request's error is set). */
int image_import_begin(struct conn *c);
/* sbxd is stopping: kill running imports. */
void image_import_stop_all(struct sbxd *d);

#endif
