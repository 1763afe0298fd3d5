#include "tend/util.h"
int main(void)
{
	return 0;
}
