/* Runs a model compiled by `wdc compile --target cpu -o MODEL_DIR`.
 *
 *   make MODEL=MODEL_DIR            # builds ./run_model against MODEL_DIR/model.so
 *   ./run_model [in0.bin ...]       # raw little-endian float32 inputs, in model.h order
 *
 * With no arguments the inputs are filled with a fixed pattern. Each
 * output j is written to outputj.bin (raw float32) and summarized.
 * This driver handles f32 inputs and outputs (WDC_INPUTi_TYPE == WDC_F32). */
#include <stdio.h>
#include <stdlib.h>
#include "model.h"

static const int in_sizes[] = {
#define X(i) WDC_INPUT##i##_SIZE,
#if WDC_NUM_INPUTS > 0
  X(0)
#endif
#if WDC_NUM_INPUTS > 1
  X(1)
#endif
#if WDC_NUM_INPUTS > 2
  X(2)
#endif
#if WDC_NUM_INPUTS > 3
#error "this example handles up to 3 inputs"
#endif
#undef X
  0};

static const int out_sizes[] = {
#define X(i) WDC_OUTPUT##i##_SIZE,
  X(0)
#if WDC_NUM_OUTPUTS > 1
  X(1)
#endif
#if WDC_NUM_OUTPUTS > 2
  X(2)
#endif
#if WDC_NUM_OUTPUTS > 3
#error "this example handles up to 3 outputs"
#endif
#undef X
  0};

int main(int argc, char **argv) {
  const float *inputs[WDC_NUM_INPUTS + 1];
  float *outputs[WDC_NUM_OUTPUTS + 1];
  float *in_bufs[WDC_NUM_INPUTS + 1];
  int rc = 1;
  for (int i = 0; i < WDC_NUM_INPUTS; i++) {
    in_bufs[i] = malloc(sizeof(float) * (size_t)in_sizes[i]);
    if (!in_bufs[i]) { fprintf(stderr, "out of memory\n"); return 1; }
    if (argc > 1 + i) {
      FILE *f = fopen(argv[1 + i], "rb");
      if (!f) { perror(argv[1 + i]); return 1; }
      size_t n = fread(in_bufs[i], sizeof(float), (size_t)in_sizes[i], f);
      fclose(f);
      if (n != (size_t)in_sizes[i]) {
        fprintf(stderr, "%s: want %d floats, read %zu\n", argv[1 + i], in_sizes[i], n);
        return 1;
      }
    } else {
      for (int k = 0; k < in_sizes[i]; k++) in_bufs[i][k] = (float)((k * 7 + i) % 13) / 13.0f;
    }
    inputs[i] = in_bufs[i];
  }
  for (int j = 0; j < WDC_NUM_OUTPUTS; j++) {
    outputs[j] = calloc((size_t)out_sizes[j], sizeof(float));
    if (!outputs[j]) { fprintf(stderr, "out of memory\n"); return 1; }
  }
  if (wdc_init() != 0) { fprintf(stderr, "wdc_init failed\n"); return 1; }
  if (wdc_run((const void **)inputs, (void **)outputs) != 0) { fprintf(stderr, "wdc_run failed\n"); goto done; }
  for (int j = 0; j < WDC_NUM_OUTPUTS; j++) {
    char name[32];
    snprintf(name, sizeof name, "output%d.bin", j);
    FILE *f = fopen(name, "wb");
    if (!f || fwrite(outputs[j], sizeof(float), (size_t)out_sizes[j], f) != (size_t)out_sizes[j]) {
      perror(name);
      if (f) fclose(f);
      goto done;
    }
    fclose(f);
    double sum = 0;
    for (int k = 0; k < out_sizes[j]; k++) sum += outputs[j][k];
    printf("output %d: %d values, first %g, sum %g -> %s\n", j, out_sizes[j], outputs[j][0], sum, name);
  }
  rc = 0;
done:
  wdc_shutdown();
  for (int i = 0; i < WDC_NUM_INPUTS; i++) free(in_bufs[i]);
  for (int j = 0; j < WDC_NUM_OUTPUTS; j++) free(outputs[j]);
  return rc;
}
