/* report_png_check: is a PNG screenshot non-trivial? Decodes it (8-bit RGB or RGBA,
 * non-interlaced, as Chromium writes them) with zlib and prints its size, the number of
 * distinct colors and the share of pixels that differ from the most common (background)
 * color. Exit 0 when the file is at least MIN_BYTES, has at least 32 colors and at least
 * 2 % non-background pixels: a blank or uniform page fails.
 *
 *   report_png_check FILE.png */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MIN_BYTES 10000

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.png\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *file = malloc((size_t)size);
    if (!file || fread(file, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "%s: read error\n", argv[1]);
        return 1;
    }
    fclose(f);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size < 33 || memcmp(file, sig, 8) != 0) {
        fprintf(stderr, "%s: not a PNG\n", argv[1]);
        return 1;
    }
    uint32_t w = 0, h = 0;
    int depth = 0, ctype = 0, interlace = 0;
    unsigned char *idat = NULL;
    size_t n_idat = 0;
    for (long p = 8; p + 12 <= size;) {
        uint32_t len = be32(file + p);
        const unsigned char *type = file + p + 4, *data = file + p + 8;
        if (p + 12 + (long)len > size)
            break;
        if (!memcmp(type, "IHDR", 4)) {
            w = be32(data);
            h = be32(data + 4);
            depth = data[8];
            ctype = data[9];
            interlace = data[12];
        } else if (!memcmp(type, "IDAT", 4)) {
            idat = realloc(idat, n_idat + len);
            memcpy(idat + n_idat, data, len);
            n_idat += len;
        }
        p += 12 + (long)len;
    }
    int bpp = ctype == 6 ? 4 : ctype == 2 ? 3 : 0;
    if (!w || !h || depth != 8 || !bpp || interlace || !idat) {
        fprintf(stderr, "%s: unsupported PNG (%ux%u, depth %d, color type %d, interlace %d)\n",
                argv[1], w, h, depth, ctype, interlace);
        return 1;
    }
    size_t stride = (size_t)w * (size_t)bpp;
    uLongf raw_len = (uLongf)((stride + 1) * h);
    unsigned char *raw = malloc(raw_len), *img = malloc(stride * h);
    if (!raw || !img || uncompress(raw, &raw_len, idat, (uLong)n_idat) != Z_OK ||
        raw_len != (stride + 1) * h) {
        fprintf(stderr, "%s: cannot inflate the image data\n", argv[1]);
        return 1;
    }
    for (uint32_t y = 0; y < h; y++) {
        const unsigned char *in = raw + y * (stride + 1) + 1;
        unsigned char *out = img + y * stride, *prev = y ? out - stride : NULL;
        int filter = raw[y * (stride + 1)];
        for (size_t x = 0; x < stride; x++) {
            int a = x >= (size_t)bpp ? out[x - (size_t)bpp] : 0, b = prev ? prev[x] : 0;
            int c = prev && x >= (size_t)bpp ? prev[x - (size_t)bpp] : 0, v = in[x];
            switch (filter) {
            case 1:
                v += a;
                break;
            case 2:
                v += b;
                break;
            case 3:
                v += (a + b) / 2;
                break;
            case 4:
                v += paeth(a, b, c);
                break;
            default:
                break;
            }
            out[x] = (unsigned char)v;
        }
    }
    unsigned char *seen = calloc(1 << 21, 1);       /* one bit per 24-bit color */
    uint32_t *count = calloc(4096, sizeof(*count)); /* coarse histogram for the background */
    size_t colors = 0, px = (size_t)w * h;
    for (size_t i = 0; i < px; i++) {
        const unsigned char *q = img + i * (size_t)bpp;
        uint32_t rgb = (uint32_t)q[0] << 16 | (uint32_t)q[1] << 8 | q[2];
        if (!(seen[rgb >> 3] & (1u << (rgb & 7)))) {
            seen[rgb >> 3] |= (unsigned char)(1u << (rgb & 7));
            colors++;
        }
        count[(q[0] >> 4) << 8 | (q[1] >> 4) << 4 | (q[2] >> 4)]++;
    }
    uint32_t bg = 0;
    for (int i = 1; i < 4096; i++)
        if (count[i] > count[bg])
            bg = (uint32_t)i;
    double non_bg = 1.0 - (double)count[bg] / (double)px;
    printf("%s: %ld bytes, %ux%u, %zu colors, %.1f %% non-background pixels\n", argv[1], size, w, h,
           colors, non_bg * 100);
    int ok = size >= MIN_BYTES && colors >= 32 && non_bg >= 0.02;
    printf("%s\n", ok ? "OK: the screenshot is not blank" : "FAIL: blank or uniform screenshot");
    free(file);
    free(idat);
    free(raw);
    free(img);
    free(seen);
    free(count);
    return ok ? 0 : 1;
}
