/* main.c - wheelfarm, the client. (being written) */
int main(void)
{
    return 0;
}
