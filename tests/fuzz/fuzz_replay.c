/*
 * Runs a fuzz target without libFuzzer: over the files named on the command line, then over
 * pseudo-random inputs (a fixed seed, so a failure reproduces). Built with every compiler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static unsigned long long rng = 0x9e3779b97f4a7c15ull;

static unsigned char next_byte(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned char)rng;
}

int main(int argc, char **argv)
{
	static unsigned char buf[1 << 16];
	int runs = 0;

	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		size_t n;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		runs++;
	}
	for (int i = 0; i < 20000; i++) {
		size_t n = next_byte() % 64 + (i % 7 == 0 ? next_byte() * 16u : 0);

		for (size_t k = 0; k < n; k++)
			buf[k] = next_byte();
		/* Often a plausible frame header, so the decoder behind it is reached too. */
		if (n >= 4 && i % 2) {
			size_t body = n - 4 - (i % 3 == 0 ? 1 : 0);

			buf[0] = 0;
			buf[1] = (unsigned char)(body >> 16);
			buf[2] = (unsigned char)(body >> 8);
			buf[3] = (unsigned char)body;
		}
		LLVMFuzzerTestOneInput(buf, n);
		runs++;
	}
	printf("%d inputs, no crash\n", runs);
	return 0;
}
